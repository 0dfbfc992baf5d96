"""Keyword search: PostgreSQL full text over the text columns an entity embeds for the vector
store (meta.hubs.vectors.text), read with websearch_to_tsquery (quotes, OR, -word).

The document is the same expression the dbt post-hook hubs_search_index indexes with GIN
(dbt_project/macros/hubs/search.sql), so PostgreSQL answers from the index. Every entity in
scope is one branch of a single UNION ALL (one round trip), each cut at k by its rank.

A branch ranks at most CANDIDATES matching rows (in the order the index gives them): the
document is not stored, so every row ranked is parsed again, and a word most rows hold (an
inspection's kind, "dvir_pre": 51,710 of 52,909 rows at scale 1) cost 190 ms to rank whole.
Such a word barely tells rows apart; the search says which entities were cut, so a caller can
add words or filters.
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
#: matching rows a branch ranks at most (ten times the largest k a search may ask)
CANDIDATES = 1000


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
    """The entity's best k documents among its first CANDIDATES matching the query (`q`, from the
    outer query's CTE), ties broken by key as the outer query breaks them (so a deeper search
    keeps the same first k); `matched` counts the candidates (CANDIDATES: the branch was cut)."""
    conditions, params = _conditions(entity, filters)
    where = sql.SQL("").join(sql.SQL(" and ") + c for c in conditions)
    keys = sql.SQL(", ").join(sql.Identifier("t", c) for c in entity.primary_key)
    query = sql.SQL(
        "(select {index} as entity_index, c.key_values, ts_rank_cd(c.doc, q.query) as rank,"
        " array(select unnest(tsvector_to_array(c.doc)) intersect select unnest(q.lexemes)) as terms,"
        " count(*) over () as matched"
        " from (select json_build_array({keys}) as key_values, {document} as doc from {table} as t cross join q"
        " where {document} @@ q.query{where} limit %s) as c cross join q"
        " order by rank desc, c.key_values::text limit %s)"
    ).format(
        index=sql.Literal(index),
        keys=keys,
        table=hub_table(entity),
        document=document(entity, "t"),
        where=where,
    )
    return query, [*params, CANDIDATES, k]


@dataclass(frozen=True)
class KeywordAnswer:
    hits: list[KeywordHit]  # best first
    cut: list[str]  # entities whose matches were more than CANDIDATES: the best of the first ranked


def search(conn: Connection, entities: list[Entity], text: str, filters: Filters, k: int) -> KeywordAnswer:
    """The k best keyword hits over the entities (those that can meet the filters), best first."""
    chosen = [e for e in entities if e.vectors and in_scope(e, filters)]
    if not chosen:
        return KeywordAnswer([], [])
    branches, params = [], []
    for index, entity in enumerate(chosen):
        branch, branch_params = _branch(entity, index, filters, k)
        branches.append(branch)
        params += branch_params
    hits_query = sql.SQL(
        "with q as (select websearch_to_tsquery({language}::regconfig, %s) as query,"
        " tsvector_to_array(to_tsvector({language}::regconfig, %s)) as lexemes),"
        " hits as ({branches})"
        " select * from (select * from hits order by rank desc, entity_index, key_values::text limit %s) as best"
        " union all select entity_index, null, null, null, max(matched) from hits group by entity_index"
        " having max(matched) >= %s"
    ).format(language=sql.Literal(LANGUAGE), branches=sql.SQL(" union all ").join(branches))
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(hits_query, [text, text, *params, k, CANDIDATES])
        rows = cur.fetchall()
    hits, cut = [], []
    for row in rows:
        entity = chosen[row["entity_index"]]
        if row["key_values"] is None:
            cut.append(entity.name)
            continue
        values = dict(zip(entity.primary_key, row["key_values"], strict=True))
        hits.append(KeywordHit(entity, key_of(entity, values), float(row["rank"]), tuple(sorted(row["terms"] or ()))))
    return KeywordAnswer(hits, sorted(cut))
