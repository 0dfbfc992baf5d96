"""Navigate: the catalog's named paths (meta.hubs.navigations) asked from one node, compiled once
to Cypher for the graph replica and to SQL over the hub tables, both from the typed relationships.

A navigation is resolved by the loader into routes (hubs/catalog_meta.py): one leg per step, a
step with several types or ends giving several routes. Each route is one query per store; their
paths are merged and ordered here, the same way for both, so the graph and PostgreSQL give the
same answer:

* Cypher: `MATCH (n0:Load {key: $key}) MATCH (n0)-[r1:COVERED_BY]->(n1:Carrier) ...`, one MATCH
  per hop (as graph.py expands), ordered by each node's key columns (its properties, typed as
  PostgreSQL orders them) and each relationship's `_owner`.
* SQL: the start's table, then per hop the table of the row that makes the relationship (its
  columns name both ends, or an array lists them) and the far end's table, ordered by the same
  key columns (text in byte order, as Cypher compares strings).

Times on the replica are ISO 8601 UTC text (hubs/sync/records.normalize) and the replica keeps
no index on them (hubs/sync/graph/falkordb_indexes.py: FalkorDB's RANGE index on text answers
`<` and `<=` wrongly), so plain comparisons compare instants, as graph.py's intervals do. Every
name in either text is the catalog's; keys, times and limits are parameters.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog, Entity
from hubs.catalog_meta import Leg, Navigation, TimeRef
from hubs.recall import inputs
from hubs.recall.graph import GraphConnection, GraphSide
from hubs.recall.inputs import Key, Names
from hubs.recall.model import (
    POSTGRES,
    Freshness,
    Hop,
    Navigated,
    NavigationInfo,
    Node,
    NodeRef,
    Provenance,
    RecallError,
    Relation,
    TimeBounds,
    answered_by_postgres,
    bad_input,
)
from hubs.recall.postgres import Reader, current_row
from hubs.sync.feed import hub_table
from hubs.sync.records import join_key, key_of, normalize, properties

_TEXT_TYPES = ("text", "varchar", "character varying", "char", "character", "citext")
Path = list[Hop]


# -- the question ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    navigation: Navigation
    entity: Entity
    key: Key
    params: dict[str, Any]  # at, day_from, day_to as the navigation needs them
    bounds: TimeBounds | None
    limit: int


def _day(value: Any) -> tuple[datetime, datetime]:
    """The calendar day an ISO date names (UTC), or the day a time falls on where it was written."""
    if value is None or value == "":
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    text = value.isoformat() if isinstance(value, (date, datetime)) else str(value).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise bad_input(f"{text!r} is not a day: an ISO 8601 date (2025-03-01) or a time in it") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


_INTERVAL_RULE = "valid_from <= t and (valid_to is null or valid_to > t)"


def _time_rule(nav: Navigation, catalog: Catalog) -> str:
    rule = nav.time_rule(lambda model: catalog.by_model(model).table)
    return f"{rule} (intervals: {_INTERVAL_RULE})" if nav.valid_at is not None else rule


def describe(nav: Navigation, catalog: Catalog) -> NavigationInfo:
    start = catalog.by_model(nav.start_model)
    meaning = {"time": "ISO 8601 time (default now)", "day": "ISO 8601 date (default today, UTC)", "": ""}
    return NavigationInfo(
        name=nav.name,
        description=nav.description,
        entity=start.name,
        key=list(start.primary_key),
        path=[list(types) for types in nav.steps],
        reaches=[sorted({route[i].far_label for route in nav.routes}) for i in range(len(nav.steps))],
        at=meaning[nav.time_parameter],
        time_rule=_time_rule(nav, catalog),
    )


def question(catalog: Catalog, names: Names, name: Any, key: Any, at: Any, limit: Any) -> Question:
    """The navigation asked, its start's key and its time checked (RecallError 400 otherwise)."""
    found = catalog.navigations
    nav = found.get(name) if isinstance(name, str) else None
    if nav is None:
        close = difflib.get_close_matches(str(name), list(found), n=3, cutoff=0.6)
        hint = f": did you mean {' or '.join(close)}?" if close else ""
        raise bad_input(f"unknown navigation {name!r}{hint} (GET /navigate lists them: {', '.join(sorted(found))})")
    entity = catalog.by_model(nav.start_model)
    parsed = names.key(entity, key)
    params: dict[str, Any] = {}
    bounds = None
    rule = _time_rule(nav, catalog)
    if nav.time_parameter == "time":
        moment = inputs.valid_at(at) or datetime.now(UTC)
        params["at"] = moment.astimezone(UTC).isoformat()
        bounds = TimeBounds(params["at"], rule)
    elif nav.time_parameter == "day":
        day_from, day_to = (t.isoformat() for t in _day(at))
        params.update(day_from=day_from, day_to=day_to)
        bounds = TimeBounds(day_from, rule)
    elif at not in (None, ""):
        raise bad_input(f"navigation {nav.name} takes no time" + (f" ({rule})" if rule else ""))
    elif rule:
        bounds = TimeBounds(None, rule)
    return Question(nav, entity, parsed, params, bounds, inputs.limit(limit))


# -- Cypher ---------------------------------------------------------------------------------------


def _interval(alias: str, time: str) -> str:
    return (
        f"({alias}.valid_from IS NULL OR ({alias}.valid_from <= {time}"
        f" AND ({alias}.valid_to IS NULL OR {alias}.valid_to > {time})))"
    )


def _cypher_time(ref: TimeRef) -> str:
    return "$at" if ref.given else f"n{ref.step}.{ref.column}"


def cypher(nav: Navigation, route: tuple[Leg, ...], models: dict[str, Entity]) -> str:
    """One route as one read-only query: the hops' relationship and node properties, ordered."""
    parts = [f"MATCH (n0:{nav.start_label} {{key: $key}})"]
    where, returned, order = [], [], []
    for i, leg in enumerate(route, start=1):
        arrow = f"-[r{i}:{leg.relationship.type}]->" if leg.outgoing else f"<-[r{i}:{leg.relationship.type}]-"
        parts.append(f"MATCH (n{i - 1}){arrow}(n{i}:{leg.far_label})")
        if nav.valid_at is not None:
            time = _cypher_time(nav.valid_at)
            where += [_interval(f"r{i}", time)] if leg.edge_interval else []
            where += [_interval(f"n{i}", time)] if leg.far_interval else []
        returned += [f"properties(r{i})", f"n{i}.key", f"properties(n{i})"]
        order += [f"n{i}.{c}" for c in models[leg.far_model].primary_key] + [f"r{i}._owner"]
    if nav.on_day:
        last = f"n{len(route)}.{nav.on_day}"
        where.append(f"{last} >= $day_from AND {last} < $day_to")
    return (
        " ".join(parts)
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" RETURN {', '.join(returned)} ORDER BY {', '.join(order)} LIMIT $cap"
    )


def _from_graph_row(route: tuple[Leg, ...], start: Node, values: list[Any]) -> Path:
    path, near = [], start.ref
    for i, leg in enumerate(route):
        rel, key, props = dict(values[3 * i]), str(values[3 * i + 1]), dict(values[3 * i + 2])
        owner = str(rel.pop("_owner", ""))
        far = NodeRef(leg.far_label, key)
        ends = (near, far) if leg.outgoing else (far, near)
        node = Node(far.label, far.key, i + 1, {k: v for k, v in props.items() if k != "key"})
        path.append(Hop(Relation(leg.relationship.type, *ends, rel, owner), node))
        near = far
    return path


# -- SQL ------------------------------------------------------------------------------------------


def _ordered(alias: str, entity: Entity, columns: tuple[str, ...]) -> list[sql.Composable]:
    """Columns in the order Cypher compares their values (text by code point, not by collation)."""
    return [
        sql.SQL('{} collate "C"' if entity.column(c).data_type.split("(")[0] in _TEXT_TYPES else "{}").format(
            sql.Identifier(alias, c)
        )
        for c in columns
    ]


def _equal(left: str, left_columns: tuple[str, ...], right: str, right_columns: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(" and ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, a), sql.Identifier(right, b))
        for a, b in zip(left_columns, right_columns, strict=True)
    )


def _joins(i: int, leg: Leg, models: dict[str, Entity]) -> sql.Composable:
    """The row making hop i (alias t<i>) joined to the near node n<i-1>, and the far node n<i>."""
    rel, owner, near, far = leg.relationship, models[leg.relationship.owner], f"n{i - 1}", f"n{i}"
    near_entity, far_entity = models[leg.near_model], models[leg.far_model]
    t = f"t{i}"
    if rel.form == "array":  # the owner's row lists the keys of its ends
        listed = sql.SQL("{} = any({})")
        if leg.outgoing:  # near is the owner: far is any listed key
            on_near = _equal(t, owner.primary_key, near, near_entity.primary_key)
            on_far = listed.format(sql.Identifier(far, far_entity.primary_key[0]), sql.Identifier(t, rel.column))
        else:  # near is listed: far is the owner
            on_near = listed.format(sql.Identifier(near, near_entity.primary_key[0]), sql.Identifier(t, rel.column))
            on_far = _equal(far, far_entity.primary_key, t, owner.primary_key)
    else:  # the owner's columns name both ends
        near_columns, far_columns = (
            (rel.start_columns, rel.end_columns) if leg.outgoing else (rel.end_columns, rel.start_columns)
        )
        on_near = _equal(t, near_columns, near, near_entity.primary_key)
        on_far = _equal(far, far_entity.primary_key, t, far_columns)
    return sql.SQL("join {} as {} on {} join {} as {} on {}").format(
        hub_table(owner), sql.Identifier(t), on_near, hub_table(far_entity), sql.Identifier(far), on_far
    )


def _sql_interval(alias: str, time: sql.Composable) -> sql.Composable:
    return sql.SQL(
        "({a}.valid_from is null or ({a}.valid_from <= {t} and ({a}.valid_to is null or {a}.valid_to > {t})))"
    ).format(a=sql.Identifier(alias), t=time)


def _sql_time(ref: TimeRef) -> sql.Composable:
    return sql.SQL("%(at)s::timestamptz") if ref.given else sql.Identifier(f"n{ref.step}", ref.column)


@dataclass(frozen=True)
class SqlRoute:
    query: sql.Composed
    decode: Callable[[Node, tuple[Any, ...]], Path]


def sql_route(nav: Navigation, route: tuple[Leg, ...], models: dict[str, Entity]) -> SqlRoute:
    """One route as one SELECT: per hop, the far row's columns, the owner's key, the relationship's
    properties; the start found by its key (parameters key0, key1, ... typed as its columns)."""
    start = models[nav.start_model]
    selected: list[sql.Composable] = []
    joins, where, order = [], [], []
    widths = []
    for i, leg in enumerate(route, start=1):
        far, owner = models[leg.far_model], models[leg.relationship.owner]
        columns = [sql.Identifier(f"n{i}", c.name) for c in far.columns]
        columns += [sql.Identifier(f"t{i}", c) for c in (*owner.primary_key, *leg.relationship.properties)]
        selected += columns
        widths.append(len(far.columns))
        joins.append(_joins(i, leg, models))
        if nav.valid_at is not None:
            time = _sql_time(nav.valid_at)
            where += [_sql_interval(f"t{i}", time)] if leg.edge_interval else []
            where += [_sql_interval(f"n{i}", time)] if leg.far_interval else []
        order += _ordered(f"n{i}", far, far.primary_key) + _ordered(f"t{i}", owner, owner.primary_key)
    where.insert(
        0,
        sql.SQL(" and ").join(
            sql.SQL("{} = %({})s::{}").format(
                sql.Identifier("n0", c), sql.SQL(f"key{j}"), sql.SQL(start.column(c).data_type)
            )
            for j, c in enumerate(start.primary_key)
        ),
    )
    if nav.on_day:
        last = sql.Identifier(f"n{len(route)}", nav.on_day)
        where.append(sql.SQL("{} >= %(day_from)s::timestamptz and {} < %(day_to)s::timestamptz").format(last, last))
    query = sql.SQL("select {} from {} as n0 {} where {} order by {} limit %(cap)s").format(
        sql.SQL(", ").join(selected),
        hub_table(start),
        sql.SQL(" ").join(joins),
        sql.SQL(" and ").join(where),
        sql.SQL(", ").join(order),
    )

    def decode(start_node: Node, row: tuple[Any, ...]) -> Path:
        path, near, at = [], start_node.ref, 0
        for i, leg in enumerate(route):
            far, owner, rel = models[leg.far_model], models[leg.relationship.owner], leg.relationship
            values = dict(zip((c.name for c in far.columns), row[at : at + widths[i]], strict=True))
            at += widths[i]
            owner_key = join_key(row[at : at + len(owner.primary_key)])
            at += len(owner.primary_key)
            props = {p: normalize(v) for p, v in zip(rel.properties, row[at : at + len(rel.properties)], strict=True)}
            at += len(rel.properties)
            node = Node(far.label, key_of(far, values), i + 1, properties(far, values))
            ends = (near, node.ref) if leg.outgoing else (node.ref, near)
            relation = Relation(
                rel.type, *ends, {k: v for k, v in props.items() if v is not None}, f"{owner.label}:{owner_key}"
            )
            path.append(Hop(relation, node))
            near = node.ref
        return path

    return SqlRoute(query, decode)


# -- both stores ----------------------------------------------------------------------------------


class Navigator:
    """Every navigation of the catalog compiled once, for both stores."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        models = {e.model: e for e in catalog.entities}
        self.keys = {e.label: e.primary_key for e in catalog.entities}
        self.cypher = {n.name: [cypher(n, r, models) for r in n.routes] for n in catalog.navigations.values()}
        self.sql = {n.name: [sql_route(n, r, models) for r in n.routes] for n in catalog.navigations.values()}

    def list(self) -> list[NavigationInfo]:
        return [describe(n, self.catalog) for n in sorted(self.catalog.navigations.values(), key=lambda n: n.name)]

    def from_graph(self, graph: GraphSide, q: Question) -> tuple[Node, list[Path], bool] | None:
        """The paths from the graph, or None when it has no start node."""
        start = graph.node(q.navigation.start_label, q.key.text)
        if start is None:
            return None
        params = {**q.params, "key": q.key.text, "cap": q.limit + 1}
        paths: list[Path] = []
        capped = False
        for route, text in zip(q.navigation.routes, self.cypher[q.navigation.name], strict=True):
            rows = graph.dialect.read(text, params, timeout_ms=graph.timeout_ms)
            capped |= len(rows) > q.limit
            paths += [_from_graph_row(route, start, list(row)) for row in rows]
        return start, *self._kept(paths, q.limit, capped)

    def from_postgres(self, conn: Connection, q: Question) -> tuple[Node, list[Path], bool]:
        row = current_row(conn, q.entity, q.key)
        if row is None:
            raise RecallError(404, f"no {q.entity.name} with key {q.key.text!r}")
        start = Node(q.entity.label, q.key.text, 0, properties(q.entity, row))
        params = {**q.params, "cap": q.limit + 1, **{f"key{j}": p for j, p in enumerate(q.key.parts)}}
        paths: list[Path] = []
        capped = False
        for compiled in self.sql[q.navigation.name]:
            with conn.cursor() as cur:
                cur.execute(compiled.query, params)
                rows = cur.fetchall()
            capped |= len(rows) > q.limit
            paths += [compiled.decode(start, r) for r in rows]
        return start, *self._kept(paths, q.limit, capped)

    def _kept(self, paths: list[Path], limit: int, capped: bool) -> tuple[list[Path], bool]:
        """The first `limit` paths in the order both stores' queries sort by: per hop, the node's
        label and key values, then the row making the relationship."""

        def order(path: Path) -> tuple:
            return tuple(
                (h.node.label, tuple(h.node.properties.get(c) for c in self.keys[h.node.label]), h.relationship.owner)
                for h in path
            )

        paths.sort(key=order)
        return paths[:limit], capped or len(paths) > limit


# -- the answer -----------------------------------------------------------------------------------


def answer(
    navigator: Navigator, q: Question, source: str, lag: Freshness, graph: GraphConnection, postgres: Reader
) -> Navigated:
    """From the graph when it may answer (in sync, reachable, holding the start), else from
    PostgreSQL with the reason (`source` "graph" or "postgres" asks that store alone)."""
    name = q.navigation.name
    why = ""
    if source != POSTGRES:
        missing = f"the graph has no node {q.navigation.start_label} {q.key.text!r}"
        found, why = graph.ask(source, lag, lambda side: navigator.from_graph(side, q), missing)
        if found is not None:
            return Navigated(name, *found, Provenance("graph", False, "", lag, None, q.bounds))
    with postgres.connection() as conn:
        found = navigator.from_postgres(conn, q)
    return Navigated(name, *found, answered_by_postgres(why, lag, q.bounds, postgres.read_as))
