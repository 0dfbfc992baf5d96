"""Relationships waiting for a node, kept in PostgreSQL (hubs_meta.graph_pending_edges).

A relationship can only be written once both of its nodes exist. When one does not exist yet
(its row is synced later in the run, in a later run, or lands later: an insight citing a load
that arrives tomorrow), the relationship is recorded here instead, in the same transaction that
moves the entity's watermark, and written when its missing node is upserted. So nothing waits in
memory: a sync that dies at any point leaves every relationship either in the graph or here,
and a watermark never moves past a relationship that is in neither.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from psycopg2.extensions import connection as Connection
from psycopg2.extras import execute_values

from hubs.sync.graph.edges import Edge

DDL = """
create schema if not exists hubs_meta;
create table if not exists hubs_meta.graph_pending_edges (
    id bigserial primary key,
    owner text not null,
    rel_type text not null,
    from_label text not null,
    from_key text not null,
    to_label text not null,
    to_property text not null,
    to_key text not null,
    props jsonb not null,
    since timestamptz not null default now()
);
create index if not exists graph_pending_edges_to on hubs_meta.graph_pending_edges (to_label, to_property, to_key);
create index if not exists graph_pending_edges_from on hubs_meta.graph_pending_edges (from_label, from_key);
create index if not exists graph_pending_edges_owner on hubs_meta.graph_pending_edges (owner);
comment on table hubs_meta.graph_pending_edges is
    'Graph relationships whose start or end node is not in the graph yet; written when it arrives.';
"""

_COLUMNS = "id, rel_type, from_label, from_key, to_label, to_property, to_key, props"


def ensure(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(DDL)
    conn.commit()


def add(conn: Connection, edges: Iterable[Edge]) -> int:
    rows = [
        (e.props["_owner"], e.type, e.from_label, e.from_key, e.to_label, e.to_property, e.to_key, json.dumps(e.props))
        for e in edges
    ]
    if rows:
        with conn.cursor() as cur:
            execute_values(
                cur,
                "insert into hubs_meta.graph_pending_edges"
                " (owner, rel_type, from_label, from_key, to_label, to_property, to_key, props) values %s",
                rows,
                page_size=2000,
            )
    return len(rows)


def drop_owned(conn: Connection, owners: list[str]) -> None:
    """Forget what these rows were waiting for (they are rewritten or gone)."""
    with conn.cursor() as cur:
        cur.execute("delete from hubs_meta.graph_pending_edges where owner = any(%s)", (owners,))


def waiting_for(conn: Connection, label: str, prop: str, values: list[str]) -> dict[int, Edge]:
    """Pending relationships that start or end at these nodes (found by `prop`)."""
    table = "hubs_meta.graph_pending_edges"
    query = f"select {_COLUMNS} from {table} where to_label = %s and to_property = %s and to_key = any(%s)"
    params: tuple = (label, prop, values)
    if prop == "key":
        query += f" union select {_COLUMNS} from {table} where from_label = %s and from_key = any(%s)"
        params += (label, values)
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    return {
        id_: Edge(rel_type, from_label, from_key, to_label, to_key, props, to_property)
        for id_, rel_type, from_label, from_key, to_label, to_property, to_key, props in rows
    }


def resolved(conn: Connection, ids: Iterable[int]) -> None:
    with conn.cursor() as cur:
        cur.execute("delete from hubs_meta.graph_pending_edges where id = any(%s)", (list(ids),))


def clear(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("truncate hubs_meta.graph_pending_edges")


def count(conn: Connection) -> int:
    with conn.cursor() as cur:
        cur.execute("select count(*) from hubs_meta.graph_pending_edges")
        [n] = cur.fetchone()
    conn.commit()
    return int(n)
