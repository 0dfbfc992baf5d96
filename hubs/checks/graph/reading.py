"""Reading PostgreSQL and the graph for the graph checks: batched, streamed, comparable."""

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from psycopg2 import sql
from psycopg2.extras import RealDictCursor

from hubs.catalog import Entity
from hubs.checks.base import CheckContext
from hubs.sync.feed import hub_table
from hubs.sync.graph.dialect import GraphDialect
from hubs.sync.records import chunks, comparable, key_of

BATCH = 2000  # keys per UNWIND round trip
SAMPLE = 500  # G5: rows per label
PATH_SAMPLE = 50  # G7: known keys per path
DIAGNOSE = 200_000  # largest mismatch whose offending keys are listed (beyond it: counts only)
SHOWN = 5  # offending keys quoted per problem

Group = tuple[str, str, str]  # relationship type, start label, end label
Pair = tuple[str, str]  # start key, end key

_cursor_ids = itertools.count()


# -- reading PostgreSQL and the graph --------------------------------------------------------------


def label_of(entity: Entity) -> str:
    return entity.label


def ident(columns: Iterable[str], alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in columns)


def not_null(columns: Iterable[str], alias: str = "t") -> sql.Composable:
    return sql.SQL(" and ").join(sql.SQL("{} is not null").format(sql.Identifier(alias, c)) for c in columns)


def rows_of(ctx: CheckContext, query: sql.Composable, params: tuple | list = (), named: bool = True) -> Iterator[Any]:
    """A query's rows (dicts by column name, or tuples), streamed through a server-side cursor."""
    factory = RealDictCursor if named else None
    with ctx.conn.cursor(name=f"graph_check_{next(_cursor_ids)}", cursor_factory=factory) as cur:
        cur.itersize = 5000
        cur.execute(query, params)
        yield from cur
    ctx.conn.rollback()  # checks only read; end the snapshot


def pg_count(ctx: CheckContext, entity: Entity) -> int:
    return int(ctx.sql(sql.SQL("select count(*) from {}").format(hub_table(entity)))[0][0])


def pg_keys(ctx: CheckContext, entity: Entity) -> Iterator[str]:
    query = sql.SQL("select {} from {} as t").format(ident(entity.primary_key, "t"), hub_table(entity))
    for row in rows_of(ctx, query):
        yield key_of(entity, row)


def node_count(graph: GraphDialect, label: str) -> int:
    return int(graph.run(f"MATCH (n:`{label}`) RETURN count(n)")[0][0])


def edge_count(graph: GraphDialect, rel_type: str) -> int:
    return int(graph.run(f"MATCH ()-[r:`{rel_type}`]->() RETURN count(r)")[0][0])


def nodes_by_key(graph: GraphDialect, label: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The properties of the nodes with these keys (absent keys are left out)."""
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(keys, BATCH):
        for key, props in graph.run(
            f"UNWIND $keys AS k MATCH (n:`{label}` {{key: k}}) RETURN k, properties(n)", {"keys": part}
        ):
            found[key] = dict(props)
    return found


def quoted(items: Iterable[Any], total: int | None = None) -> str:
    items = list(items)
    total = len(items) if total is None else total
    listed = ", ".join(str(i) for i in items[:SHOWN])
    return listed + (f" (+{total - SHOWN} more)" if total > SHOWN else "")


def differing_properties(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    want, have = comparable(expected), comparable(actual)
    return sorted(k for k in set(want) | set(have) if json.dumps(want.get(k), default=str) != json.dumps(have.get(k)))


def as_instant(value: Any) -> datetime | None:
    """A stored time bound (ISO text) as an aware datetime; None when absent or unreadable."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# -- G1 -------------------------------------------------------------------------------------------


def key_difference(ctx: CheckContext, entity: Entity, expected: int, actual: int) -> str:
    """Which keys make two counts differ (only when both sides are small enough to list)."""
    if max(expected, actual) > DIAGNOSE:
        return ""
    label = label_of(entity)
    in_graph = Counter(row[0] for row in ctx.graph.run(f"MATCH (n:`{label}`) RETURN n.key"))
    in_pg = set(pg_keys(ctx, entity))
    missing = sorted(in_pg - set(in_graph))
    extra = sorted(str(k) for k in set(in_graph) - in_pg)
    doubled = sorted(str(k) for k, n in in_graph.items() if n > 1 and k is not None)
    parts = [
        f"no node for {quoted(missing)}" if missing else "",
        f"not in PostgreSQL: {quoted(extra)}" if extra else "",
    ]
    parts.append(f"more than one node for {quoted(doubled)}" if doubled else "")
    return "; " + "; ".join(p for p in parts if p) if any(parts) else ""
