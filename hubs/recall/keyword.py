"""Keyword search: PostgreSQL full text over the text columns an entity embeds for the vector
store (meta.hubs.vectors.text), read with websearch_to_tsquery (quotes, OR, -word).

The document is the same expression the dbt post-hook hubs_search_index indexes with GIN
(dbt_project/macros/hubs/search.sql), so PostgreSQL answers from the index. Every entity in
scope is one branch of a single UNION ALL (one round trip), each cut at k by its rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor

from hubs.catalog import Entity
from hubs.sync.feed import hub_table
from hubs.sync.records import key_of

LANGUAGE = "english"
STATUS = "status"


@dataclass(frozen=True)
class Filters:
    """What narrows a search, the same on both sides: the vector payload and the hub rows."""

    statuses: tuple[str, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None

    @property
    def timed(self) -> bool:
        return self.time_from is not None or self.time_to is not None


@dataclass(frozen=True)
class KeywordHit:
    entity: Entity
    key: str
    rank: float  # ts_rank_cd of the document against the query
    terms: tuple[str, ...]  # the query's lexemes the document holds


def document(entity: Entity, alias: str) -> sql.Composable:
    """The entity's searchable text as one tsvector (the indexed expression, see the module)."""
    parts = []
    for name in entity.vectors.text:
        column = sql.Identifier(alias, name)
        empty = sql.SQL("'{}'::jsonb") if entity.column(name).data_type.lower() == "jsonb" else sql.SQL("''::text")
        vector = sql.SQL("to_tsvector({}::regconfig, coalesce({}, {}))")
        parts.append(vector.format(sql.Literal(LANGUAGE), column, empty))
    return sql.SQL(" || ").join(parts)


def in_scope(entity: Entity, filters: Filters) -> bool:
    """Whether the entity can meet the filters at all: a status filter needs a status in its
    payload, a time range a declared time (meta.hubs.vectors.time)."""
    statused = not filters.statuses or STATUS in entity.vectors.payload
    return statused and (not filters.timed or bool(entity.vectors.time))


def _conditions(entity: Entity, filters: Filters) -> tuple[list[sql.Composable], list[Any]]:
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if filters.statuses:
        conditions.append(sql.SQL("t.{} = any(%s)").format(sql.Identifier(STATUS)))
        params.append(list(filters.statuses))
    if filters.time_from is not None:
        conditions.append(sql.SQL("t.{} >= %s").format(sql.Identifier(entity.vectors.time)))
        params.append(filters.time_from)
    if filters.time_to is not None:
        conditions.append(sql.SQL("t.{} <= %s").format(sql.Identifier(entity.vectors.time)))
        params.append(filters.time_to)
    return conditions, params


def _branch(entity: Entity, index: int, filters: Filters, k: int) -> tuple[sql.Composable, list[Any]]:
    """The entity's best k documents matching the query (`q`, from the outer query's CTE), ties
    broken by key as the outer query breaks them (so a deeper search keeps the same first k)."""
    conditions, params = _conditions(entity, filters)
    where = sql.SQL("").join(sql.SQL(" and ") + c for c in conditions)
    keys = sql.SQL(", ").join(sql.Identifier("t", c) for c in entity.primary_key)
    query = sql.SQL(
        "(select {index} as entity_index, json_build_array({keys}) as key_values, ts_rank_cd(d.doc, q.query) as rank,"
        " array(select unnest(tsvector_to_array(d.doc)) intersect select unnest(q.lexemes)) as terms"
        " from {table} as t cross join q cross join lateral (select {document} as doc) as d"
        " where {document} @@ q.query{where} order by rank desc, json_build_array({keys})::text limit %s)"
    ).format(
        index=sql.Literal(index),
        keys=keys,
        table=hub_table(entity),
        document=document(entity, "t"),
        where=where,
    )
    return query, [*params, k]


def search(conn: Connection, entities: list[Entity], text: str, filters: Filters, k: int) -> list[KeywordHit]:
    """The k best keyword hits over the entities (those that can meet the filters), best first."""
    chosen = [e for e in entities if e.vectors and in_scope(e, filters)]
    if not chosen:
        return []
    branches, params = [], []
    for index, entity in enumerate(chosen):
        branch, branch_params = _branch(entity, index, filters, k)
        branches.append(branch)
        params += branch_params
    query = sql.SQL(
        "with q as (select websearch_to_tsquery({language}::regconfig, %s) as query,"
        " tsvector_to_array(to_tsvector({language}::regconfig, %s)) as lexemes)"
        " select * from ({branches}) as hits order by rank desc, entity_index, key_values::text limit %s"
    ).format(language=sql.Literal(LANGUAGE), branches=sql.SQL(" union all ").join(branches))
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(query, [text, text, *params, k])
        rows = cur.fetchall()
    hits = []
    for row in rows:
        entity = chosen[row["entity_index"]]
        values = dict(zip(entity.primary_key, row["key_values"], strict=True))
        hits.append(KeywordHit(entity, key_of(entity, values), float(row["rank"]), tuple(sorted(row["terms"] or ()))))
    return hits
