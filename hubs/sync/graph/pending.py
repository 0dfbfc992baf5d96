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
from collections import Counter
from collections.abc import Iterable

from psycopg2.extensions import connection as Connection
from psycopg2.extras import execute_values

from hubs.sync.generations import physical
from hubs.sync.graph.edges import Edge

TABLE = "graph_pending_edges"
DDL = """
create schema if not exists hubs_meta;
create table if not exists hubs_meta.{table} (
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
create index if not exists {table}_to on hubs_meta.{table} (to_label, to_property, to_key);
create index if not exists {table}_from on hubs_meta.{table} (from_label, from_key);
create index if not exists {table}_owner on hubs_meta.{table} (owner);
comment on table hubs_meta.{table} is
    'Graph relationships whose start or end node is not in the graph yet; written when it arrives.';
"""

_COLUMNS = "id, rel_type, from_label, from_key, to_label, to_property, to_key, props"


def table(generation: int = 0) -> str:
    """The pending relationships of a generation of the graph (each has its own: they are part of
    what the generation's watermarks say it holds). A name made from a number, never from input."""
    return f"hubs_meta.{physical(TABLE, int(generation))}"


def ensure(conn: Connection, generation: int = 0) -> None:
    with conn.cursor() as cur:
        cur.execute(DDL.format(table=physical(TABLE, int(generation))))
    conn.commit()


def copy(conn: Connection, source: int, target: int) -> None:
    """Make the target generation's pending relationships those of the source (a seeded
    generation starts where its source is). Not committed: the caller commits it with the
    watermarks it copies."""
    ensure(conn, source)
    ensure(conn, target)
    with conn.cursor() as cur:
        cur.execute(f"truncate {table(target)}")
        # Not the ids: the target's own sequence numbers its rows.
        columns = "owner, rel_type, from_label, from_key, to_label, to_property, to_key, props, since"
        cur.execute(f"insert into {table(target)} ({columns}) select {columns} from {table(source)}")


def drop(conn: Connection, generation: int) -> None:
    if generation == 0:
        raise ValueError("generation 0's pending relationships are never dropped")
    with conn.cursor() as cur:
        cur.execute(f"drop table if exists {table(generation)}")
    conn.commit()


def add(conn: Connection, edges: Iterable[Edge], generation: int = 0) -> int:
    rows = [
        (e.props["_owner"], e.type, e.from_label, e.from_key, e.to_label, e.to_property, e.to_key, json.dumps(e.props))
        for e in edges
    ]
    if rows:
        with conn.cursor() as cur:
            execute_values(
                cur,
                f"insert into {table(generation)}"
                " (owner, rel_type, from_label, from_key, to_label, to_property, to_key, props) values %s",
                rows,
                page_size=2000,
            )
    return len(rows)


def _identity(edge: Edge) -> tuple[str, ...]:
    fields = (edge.props["_owner"], edge.type, edge.from_label, edge.from_key, edge.to_label, edge.to_property)
    return (*map(str, fields), str(edge.to_key), json.dumps(edge.props, sort_keys=True, default=str))


def add_missing(conn: Connection, edges: Iterable[Edge], generation: int = 0) -> int:
    """Park these relationships, less those that wait here already: relationships are parked and
    committed before their nodes leave the graph, so a sync that died between the two finds them
    both here and in the graph, and parks them again (each is kept as many times as it is given)."""
    edges = list(edges)
    if not edges:
        return 0
    with conn.cursor() as cur:
        cur.execute(
            f"select {_COLUMNS} from {table(generation)} where owner = any(%s)",
            (sorted({str(e.props["_owner"]) for e in edges}),),
        )
        waiting = Counter(
            _identity(Edge(rel_type, from_label, from_key, to_label, to_key, props, to_property))
            for _, rel_type, from_label, from_key, to_label, to_property, to_key, props in cur.fetchall()
        )
    new: list[Edge] = []
    for e in edges:
        identity = _identity(e)
        if waiting[identity] > 0:
            waiting[identity] -= 1  # parked by the attempt that died: once is enough
        else:
            new.append(e)
    return add(conn, new, generation)


def drop_owned(conn: Connection, owners: list[str], generation: int = 0) -> None:
    """Forget what these rows were waiting for (they are rewritten or gone)."""
    with conn.cursor() as cur:
        cur.execute(f"delete from {table(generation)} where owner = any(%s)", (owners,))


def touches(conn: Connection, label: str, generation: int = 0) -> bool:
    """Whether any pending relationship starts or ends at a node of this label."""
    with conn.cursor() as cur:
        cur.execute(
            f"select exists (select 1 from {table(generation)} where to_label = %s)"
            f" or exists (select 1 from {table(generation)} where from_label = %s)",
            (label, label),
        )
        [found] = cur.fetchone()
    return bool(found)


def waiting_for(conn: Connection, label: str, prop: str, values: list[str], generation: int = 0) -> dict[int, Edge]:
    """Pending relationships that start or end at these nodes (found by `prop`)."""
    query = f"select {_COLUMNS} from {table(generation)} where to_label = %s and to_property = %s and to_key = any(%s)"
    params: tuple = (label, prop, values)
    if prop == "key":
        query += f" union select {_COLUMNS} from {table(generation)} where from_label = %s and from_key = any(%s)"
        params += (label, values)
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    return {
        id_: Edge(rel_type, from_label, from_key, to_label, to_key, props, to_property)
        for id_, rel_type, from_label, from_key, to_label, to_property, to_key, props in rows
    }


def resolved(conn: Connection, ids: Iterable[int], generation: int = 0) -> None:
    with conn.cursor() as cur:
        cur.execute(f"delete from {table(generation)} where id = any(%s)", (list(ids),))


def clear(conn: Connection, generation: int = 0) -> None:
    with conn.cursor() as cur:
        cur.execute(f"truncate {table(generation)}")


def count(conn: Connection, generation: int = 0) -> int:
    with conn.cursor() as cur:
        cur.execute(f"select count(*) from {table(generation)}")
        [n] = cur.fetchone()
    conn.commit()
    return int(n)
