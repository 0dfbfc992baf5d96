"""The graph replica's checks (G1-G10) and its parity with PostgreSQL (X1).

PostgreSQL is the truth: every expectation is read from it (or from the catalog) and compared
with what the replica holds, through Cypher that runs unchanged on FalkorDB and Neo4j. Reads
are batched (UNWIND over keys, one aggregate query per label or relationship type), never a
round trip per row; G5 and G7 sample, X1 reads every row, streamed.

Relationships are compared per group (type, start label, end label), which is finer than per
type: OWNED_BY leaves goals, projects, tractors and trailers for different labels.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from psycopg2 import sql
from psycopg2.extras import RealDictCursor

from hubs.catalog import Catalog, Entity
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.sync.feed import current_rows, history_table, hub_table
from hubs.sync.graph.dialect import GraphDialect
from hubs.sync.graph.edges import VERSION, Relationships
from hubs.sync.graph.store import filtered_properties, indexed_properties
from hubs.sync.records import content_hash, join_key, key_from_json, key_of, normalize, properties

BATCH = 2000  # keys per UNWIND round trip
SAMPLE = 500  # G5: rows per label
PATH_SAMPLE = 50  # G7: known keys per path
DIAGNOSE = 200_000  # largest mismatch whose offending keys are listed (beyond it: counts only)
SHOWN = 5  # offending keys quoted per problem

Group = tuple[str, str, str]  # relationship type, start label, end label
Pair = tuple[str, str]  # start key, end key

_cursor_ids = itertools.count()


# -- reading PostgreSQL and the graph --------------------------------------------------------------


def _label(entity: Entity) -> str:
    return entity.meta["label"]


def _ident(columns: Iterable[str], alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in columns)


def _not_null(columns: Iterable[str], alias: str = "t") -> sql.Composable:
    return sql.SQL(" and ").join(sql.SQL("{} is not null").format(sql.Identifier(alias, c)) for c in columns)


def _rows(ctx: CheckContext, query: sql.Composable, params: tuple | list = (), named: bool = True) -> Iterator[Any]:
    """A query's rows (dicts by column name, or tuples), streamed through a server-side cursor."""
    factory = RealDictCursor if named else None
    with ctx.conn.cursor(name=f"graph_check_{next(_cursor_ids)}", cursor_factory=factory) as cur:
        cur.itersize = 5000
        cur.execute(query, params)
        yield from cur
    ctx.conn.rollback()  # checks only read; end the snapshot


def _pg_count(ctx: CheckContext, entity: Entity) -> int:
    return int(ctx.sql(sql.SQL("select count(*) from {}").format(hub_table(entity)))[0][0])


def _pg_keys(ctx: CheckContext, entity: Entity) -> Iterator[str]:
    query = sql.SQL("select {} from {} as t").format(_ident(entity.primary_key, "t"), hub_table(entity))
    for row in _rows(ctx, query):
        yield key_of(entity, row)


def _node_count(graph: GraphDialect, label: str) -> int:
    return int(graph.run(f"MATCH (n:`{label}`) RETURN count(n)")[0][0])


def _edge_count(graph: GraphDialect, rel_type: str) -> int:
    return int(graph.run(f"MATCH ()-[r:`{rel_type}`]->() RETURN count(r)")[0][0])


def _chunks(items: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _nodes(graph: GraphDialect, label: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The properties of the nodes with these keys (absent keys are left out)."""
    found: dict[str, dict[str, Any]] = {}
    for part in _chunks(keys):
        for key, props in graph.run(
            f"UNWIND $keys AS k MATCH (n:`{label}` {{key: k}}) RETURN k, properties(n)", {"keys": part}
        ):
            found[key] = dict(props)
    return found


def _shown(items: Iterable[Any], total: int | None = None) -> str:
    items = list(items)
    total = len(items) if total is None else total
    listed = ", ".join(str(i) for i in items[:SHOWN])
    return listed + (f" (+{total - SHOWN} more)" if total > SHOWN else "")


def _comparable(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as content_hash sees them: bookkeeping left out, every number a float."""
    return {
        k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
        for k, v in props.items()
        if k not in ("key", "_owner")
    }


def _differing(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    want, have = _comparable(expected), _comparable(actual)
    return sorted(k for k in set(want) | set(have) if json.dumps(want.get(k), default=str) != json.dumps(have.get(k)))


def _instant(value: Any) -> datetime | None:
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


def _key_difference(ctx: CheckContext, entity: Entity, expected: int, actual: int) -> str:
    """Which keys make two counts differ (only when both sides are small enough to list)."""
    if max(expected, actual) > DIAGNOSE:
        return ""
    label = _label(entity)
    in_graph = Counter(row[0] for row in ctx.graph.run(f"MATCH (n:`{label}`) RETURN n.key"))
    in_pg = set(_pg_keys(ctx, entity))
    missing = sorted(in_pg - set(in_graph))
    extra = sorted(str(k) for k in set(in_graph) - in_pg)
    doubled = sorted(str(k) for k, n in in_graph.items() if n > 1 and k is not None)
    parts = [
        f"no node for {_shown(missing)}" if missing else "",
        f"not in PostgreSQL: {_shown(extra)}" if extra else "",
    ]
    parts.append(f"more than one node for {_shown(doubled)}" if doubled else "")
    return "; " + "; ".join(p for p in parts if p) if any(parts) else ""


@check("graph", "G1_node_counts")
def node_counts(ctx: CheckContext) -> CheckOutcome:
    """Per label, the graph holds exactly as many nodes as PostgreSQL has current rows."""
    problems, nodes, rows = [], 0, 0
    for entity in ctx.catalog.entities:
        label = _label(entity)
        expected, actual = _pg_count(ctx, entity), _node_count(ctx.graph, label)
        rows, nodes = rows + expected, nodes + actual
        if expected != actual:
            detail = _key_difference(ctx, entity, expected, actual)
            problems.append(f"{label}: {actual} node(s) in the graph, {expected} row(s) in PostgreSQL{detail}")
    summary = f"{len(ctx.catalog.entities)} labels, {nodes} nodes for {rows} rows"
    unasked = [] if rows else ["PostgreSQL has no rows in any entity: no node to count"]
    return CheckOutcome.from_problems(
        "G1_node_counts",
        problems,
        summary,
        unasked,
        labels=len(ctx.catalog.entities),
        nodes=nodes,
        rows=rows,
        asked=rows,
    )


# -- relationships: what PostgreSQL implies and what the graph holds (G2, G8, X1) ----------------------


@dataclass
class EdgeTally:
    """Relationships PostgreSQL implies, per group, and how to list them when counts differ."""

    counts: Counter = field(default_factory=Counter)
    #: per group, queries whose rows are (start key parts..., end key parts...) of expected edges
    queries: dict[Group, list[tuple[sql.Composable, int, int]]] = field(default_factory=lambda: defaultdict(list))
    #: per group, the expected edges of forms computed in Python (polymorphic keys, JSON, subjects)
    pairs: dict[Group, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def types(self) -> set[str]:
        return {t for (t, _, _), n in self.counts.items() if n}


# Relationship forms whose targets are read out of values (a typed pair, a JSON document, a
# 'tractor:6520' subject): evaluated with the replica's own edge rules, then kept only where the
# target row exists in PostgreSQL. Every other form is counted in SQL.
_DERIVED_FORMS = ("subject_column", "key_columns", "json_column")

_tallies: WeakKeyDictionary[CheckContext, EdgeTally] = WeakKeyDictionary()


def _parent(catalog: Catalog, entity: Entity, columns: list[str]) -> Entity:
    for fk in entity.foreign_keys:
        if list(fk.columns) == list(columns):
            return catalog.by_model(fk.parent_model)
    raise KeyError(f"{entity.model}: {columns} is not a foreign key")


def _column_pairs(entity: Entity, start: list[str], end: list[str], tally: EdgeTally, group: Group) -> sql.Composable:
    """Expected edges between the rows named by two column lists of each row (both non-null)."""
    query = sql.SQL("select {s}, {e} from {t} as t where {nn}").format(
        s=_ident(start, "t"), e=_ident(end, "t"), t=hub_table(entity), nn=_not_null([*start, *end])
    )
    tally.queries[group].append((query, len(start), len(end)))
    return sql.SQL("count(*) filter (where {})").format(_not_null([*start, *end]))


def _ends(rel: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The foreign-key columns of a projection's or a link's start and end."""
    if "link_from" in rel:
        return rel["link_from"], rel["link_to"]
    return rel["from_columns"], rel["to_columns"]


def _sql_edges(ctx: CheckContext, entity: Entity, tally: EdgeTally) -> None:
    """Foreign-key, projection, array and version edges of the entity, counted in SQL."""
    label = _label(entity)
    counters: list[tuple[Group, sql.Composable]] = []
    for rel in entity.meta.get("relationships", []):
        if "columns" in rel:
            parent = _label(_parent(ctx.catalog, entity, rel["columns"]))
            if rel.get("direction") == "in":
                group = (rel["type"], parent, label)
                counters.append((group, _column_pairs(entity, rel["columns"], list(entity.primary_key), tally, group)))
            else:
                group = (rel["type"], label, parent)
                counters.append((group, _column_pairs(entity, list(entity.primary_key), rel["columns"], tally, group)))
        elif "from_columns" in rel or "link_to" in rel:
            start, end = _ends(rel)
            group = (
                rel["type"],
                _label(_parent(ctx.catalog, entity, start)),
                _label(_parent(ctx.catalog, entity, end)),
            )
            counters.append((group, _column_pairs(entity, start, end, tally, group)))
    if counters:
        query = sql.SQL("select {} from {} as t").format(sql.SQL(", ").join(c for _, c in counters), hub_table(entity))
        for (group, _), n in zip(counters, ctx.sql(query)[0], strict=True):
            tally.counts[group] += n
    for rel in entity.meta.get("relationships", []):
        if "array_column" in rel:
            target = ctx.catalog.by_model(rel["target"])
            [target_key] = target.primary_key  # the sync matches array elements to the target's key
            group = (rel["type"], label, _label(target))
            query = sql.SQL(
                "select {k}, v.ref from {t} as t cross join lateral unnest(t.{c}) as v (ref)"
                " where exists (select 1 from {p} as p where p.{pk} = v.ref)"
            ).format(
                k=_ident(entity.primary_key, "t"),
                t=hub_table(entity),
                c=sql.Identifier(rel["array_column"]),
                p=hub_table(target),
                pk=sql.Identifier(target_key),
            )
            tally.counts[group] += ctx.sql(sql.SQL("select count(*) from ({}) as q").format(query))[0][0]
            tally.queries[group].append((query, len(entity.primary_key), 1))
    history = history_table(entity)
    if history is not None:
        group = (VERSION, label, label)
        match = sql.SQL(" and ").join(sql.SQL("t.{c} = h.{c}").format(c=sql.Identifier(c)) for c in entity.primary_key)
        query = sql.SQL("select {k}, {k} from {h} as h where exists (select 1 from {t} as t where {m})").format(
            k=_ident(entity.primary_key, "h"), h=history, t=hub_table(entity), m=match
        )
        tally.counts[group] += ctx.sql(sql.SQL("select count(*) from ({}) as q").format(query))[0][0]
        tally.queries[group].append((query, len(entity.primary_key), len(entity.primary_key)))


def _derived_edges(ctx: CheckContext, tally: EdgeTally) -> None:
    """Edges read out of values, kept where PostgreSQL has the row they point at."""
    relationships = Relationships(ctx.catalog)
    found: list[tuple[str, str, str, str, str, str]] = []  # type, start label, start key, end label, key, property
    for entity in ctx.catalog.entities:
        derived = [r for r in entity.meta.get("relationships", []) if any(f in r for f in _DERIVED_FORMS)]
        if not derived:
            continue
        only_derived = replace(entity, meta={**entity.meta, "relationships": derived})
        for row in _rows(ctx, sql.SQL("select * from {}").format(hub_table(entity))):
            key = key_of(entity, row)
            for edge in relationships.indirect(only_derived, key, row):
                found.append((edge.type, edge.from_label, edge.from_key, edge.to_label, edge.to_key, edge.to_property))
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, _, _, to_label, to_key, prop in found:
        wanted[(to_label, prop)].add(to_key)
    by_label = {_label(e): e for e in ctx.catalog.entities}
    existing: dict[tuple[str, str], Counter] = {}
    for (label, prop), values in wanted.items():
        entity = by_label[label]
        columns = list(entity.primary_key) if prop == "key" else [prop]
        query = sql.SQL("select {} from {} as t").format(_ident(columns, "t"), hub_table(entity))
        seen: Counter = Counter()
        for row in _rows(ctx, query):
            value = key_of(entity, row) if prop == "key" else str(normalize(row[prop]))
            if value in values:
                seen[value] += 1  # the sync links every node the value matches
        existing[(label, prop)] = seen
    for rel_type, from_label, from_key, to_label, to_key, prop in found:
        times = existing[(to_label, prop)][to_key]
        if times:
            group = (rel_type, from_label, to_label)
            tally.counts[group] += times
            tally.pairs[group][(from_key, to_key)] += times


def expected_edges(ctx: CheckContext) -> EdgeTally:
    """What PostgreSQL implies, per (type, start label, end label); computed once per context."""
    if ctx in _tallies:
        return _tallies[ctx]
    tally = EdgeTally()
    for entity in ctx.catalog.entities:
        _sql_edges(ctx, entity, tally)
    _derived_edges(ctx, tally)
    _tallies[ctx] = tally
    return tally


def _labels_text(labels: list[str]) -> str:
    return ":".join(sorted(labels)) if labels else "(no label)"


def start_labels(catalog: Catalog) -> dict[str, set[str]]:
    """Per relationship type, the labels the catalog has its relationships start from."""
    starts: dict[str, set[str]] = defaultdict(set)
    for entity in catalog.entities:
        for rel in entity.meta.get("relationships", []):
            if "columns" in rel and rel.get("direction") == "in":
                starts[rel["type"]].add(_label(_parent(catalog, entity, rel["columns"])))
            elif "link_from" in rel:  # a link starts at a foreign key's target, whatever its end
                starts[rel["type"]].add(_label(_parent(catalog, entity, rel["link_from"])))
            elif "from_columns" in rel:
                starts[rel["type"]].add(_label(_parent(catalog, entity, rel["from_columns"])))
            else:
                starts[rel["type"]].add(_label(entity))
        if entity.history == "scd2":
            starts[VERSION].add(_label(entity))
    return starts


_GROUPED = "RETURN labels(a), labels(b), count(r), sum(CASE WHEN a.key IS NULL OR b.key IS NULL THEN 1 ELSE 0 END)"


def graph_edges(graph: GraphDialect, catalog: Catalog) -> dict[Group, tuple[int, int]]:
    """Per group: the relationships the graph holds, and how many of them touch a keyless node.

    Each type is read from the labels the catalog starts it at (an unlabelled start makes
    FalkorDB scan every node, per type); when those do not add up to the type's count, which
    both servers keep, some start elsewhere and the type is read whole."""
    held: dict[Group, tuple[int, int]] = {}
    for rel_type, starts in sorted(start_labels(catalog).items()):
        total = _edge_count(graph, rel_type)
        if not total:
            continue
        rows = [
            row
            for start in sorted(starts)
            for row in graph.run(f"MATCH (a:`{start}`)-[r:`{rel_type}`]->(b) {_GROUPED}")
        ]
        if sum(int(row[2]) for row in rows) != total:
            rows = graph.run(f"MATCH (a)-[r:`{rel_type}`]->(b) {_GROUPED}")
        for start_labels_, end_labels, count, keyless in rows:
            group = (rel_type, _labels_text(start_labels_), _labels_text(end_labels))
            before = held.get(group, (0, 0))
            held[group] = (before[0] + int(count), before[1] + int(keyless or 0))
    return held


def _expected_pairs(ctx: CheckContext, tally: EdgeTally, group: Group) -> Counter:
    pairs = Counter(tally.pairs.get(group, {}))
    for query, start_width, _ in tally.queries.get(group, []):
        for values in _rows(ctx, query, named=False):
            pairs[(join_key(values[:start_width]), join_key(values[start_width:]))] += 1
    return pairs


def _node_pattern(variable: str, labels: str) -> str:
    """A node pattern for a group's label text; several labels or none match any node (the
    labels are compared afterwards)."""
    return f"({variable}:`{labels}`)" if labels.isidentifier() else f"({variable})"


def _graph_pairs(graph: GraphDialect, group: Group) -> Counter:
    rel_type, start, end = group
    rows = graph.run(
        f"MATCH {_node_pattern('a', start)}-[r:`{rel_type}`]->{_node_pattern('b', end)}"
        " RETURN labels(a), labels(b), a.key, b.key"
    )
    return Counter((str(a), str(b)) for la, lb, a, b in rows if _labels_text(la) == start and _labels_text(lb) == end)


def edge_problems(ctx: CheckContext, tally: EdgeTally, held: dict[Group, tuple[int, int]]) -> list[str]:
    """Groups whose relationship counts differ (with the offending pairs when few enough to list),
    and relationships that end at a node without a key."""
    problems = []
    for group in sorted(set(tally.counts) | set(held)):
        rel_type, start, end = group
        expected, (actual, keyless) = tally.counts.get(group, 0), held.get(group, (0, 0))
        name = f"{rel_type} ({start})->({end})"
        if keyless:
            problems.append(f"{name}: {keyless} relationship(s) whose end node has no key")
        if expected == actual:
            continue
        detail = ""
        if expected + actual <= DIAGNOSE:
            want, have = _expected_pairs(ctx, tally, group), _graph_pairs(ctx.graph, group)
            missing, extra = sorted((want - have).elements()), sorted((have - want).elements())
            if missing:
                detail += f"; missing {_shown(f'{a}->{b}' for a, b in missing)}"
            if extra:
                detail += f"; not implied by PostgreSQL {_shown(f'{a}->{b}' for a, b in extra)}"
        problems.append(f"{name}: {actual} in the graph, {expected} implied by PostgreSQL{detail}")
    return problems


# -- G2 -------------------------------------------------------------------------------------------


@check("graph", "G2_relationship_integrity")
def relationship_integrity(ctx: CheckContext) -> CheckOutcome:
    """Every relationship ends at keyed nodes, and each type has as many as PostgreSQL implies."""
    tally = expected_edges(ctx)
    held = graph_edges(ctx.graph, ctx.catalog)
    problems = edge_problems(ctx, tally, held)
    expected, actual = sum(tally.counts.values()), sum(n for n, _ in held.values())
    summary = f"{len(set(tally.counts) | set(held))} relationship groups, {actual} relationships for {expected} implied"
    unasked = [] if expected else ["PostgreSQL implies no relationship: none to compare"]
    return CheckOutcome.from_problems(
        "G2_relationship_integrity", problems, summary, unasked, relationships=actual, implied=expected, asked=expected
    )


# -- G3 -------------------------------------------------------------------------------------------


@check("graph", "G3_unique_constraints")
def unique_constraints(ctx: CheckContext) -> CheckOutcome:
    """Each label has an online UNIQUE constraint on its key."""
    online: dict[str, bool] = {}
    for item in ctx.graph.schema():
        if item.kind == "unique" and item.prop == "key":
            online[item.label] = online.get(item.label, False) or item.online
    problems = []
    for entity in ctx.catalog.entities:
        label = _label(entity)
        if label not in online:
            problems.append(f"{label}: no UNIQUE constraint on key")
        elif not online[label]:
            problems.append(f"{label}: the UNIQUE constraint on key is not online")
    labels = len(ctx.catalog.entities)
    return CheckOutcome.from_problems(
        "G3_unique_constraints",
        problems,
        f"{labels} key constraints",
        labels=labels,
        online=sum(online.get(_label(e), False) for e in ctx.catalog.entities),
    )


# -- G4 -------------------------------------------------------------------------------------------


@check("graph", "G4_no_duplicate_or_keyless_nodes")
def duplicate_or_keyless_nodes(ctx: CheckContext) -> CheckOutcome:
    """No two nodes of a label share a key, every node has a key, none is without a label."""
    problems, duplicated, keyless, scanned = [], 0, 0, 0
    for entity in ctx.catalog.entities:
        label = _label(entity)
        scanned += _node_count(ctx.graph, label)
        [[missing]] = ctx.graph.run(f"MATCH (n:`{label}`) WHERE n.key IS NULL RETURN count(n)")
        if missing:
            keyless += int(missing)
            problems.append(f"{label}: {missing} node(s) without a key")
        doubles = ctx.graph.run(
            f"MATCH (n:`{label}`) WHERE n.key IS NOT NULL WITH n.key AS k, count(*) AS c WHERE c > 1"
            " RETURN k, c ORDER BY c DESC LIMIT 100"
        )
        if doubles:
            duplicated += len(doubles)
            problems.append(f"{label}: key(s) on more than one node: {_shown(f'{k} (x{c})' for k, c in doubles)}")
    [[unlabelled]] = ctx.graph.run("MATCH (n) WHERE size(labels(n)) = 0 RETURN count(n)")
    if unlabelled:
        problems.append(f"{unlabelled} node(s) without a label")
    unasked = [] if scanned else ["the graph has no node of any catalog label: no key to compare"]
    return CheckOutcome.from_problems(
        "G4_no_duplicate_or_keyless_nodes",
        problems,
        f"{len(ctx.catalog.entities)} labels, {scanned} nodes scanned",
        unasked,
        asked=scanned,
        nodes=scanned,
        duplicated_keys=duplicated,
        keyless=keyless,
        unlabelled=int(unlabelled),
    )


# -- G5 -------------------------------------------------------------------------------------------


def _sample(ctx: CheckContext, entity: Entity, size: int) -> list[dict[str, Any]]:
    """Up to `size` random current rows; large tables are thinned by a Bernoulli sample first
    so that the random order sorts a few thousand rows, not all of them."""
    [[estimate]] = ctx.sql("select reltuples from pg_class where oid = to_regclass(%s)", (entity.qualified_name,))
    thin = sql.SQL("")
    if estimate and estimate > 20 * size:
        thin = sql.SQL(" tablesample bernoulli ({})").format(sql.Literal(min(100.0, 400.0 * size / estimate)))
    query = sql.SQL("select * from {}{} order by random() limit {}").format(hub_table(entity), thin, sql.Literal(size))
    with ctx.conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(query)
        rows = [dict(r) for r in cur.fetchall()]
    ctx.conn.rollback()
    return rows


@check("graph", "G5_property_parity")
def property_parity(ctx: CheckContext) -> CheckOutcome:
    """A random sample of each label's nodes carries exactly the PostgreSQL row's values (row hash)."""
    problems, sampled, empty = [], 0, []
    for entity in ctx.catalog.entities:
        label = _label(entity)
        expected = {key_of(entity, row): properties(entity, row) for row in _sample(ctx, entity, SAMPLE)}
        sampled += len(expected)
        if not expected:
            empty.append(label)
        nodes = _nodes(ctx.graph, label, list(expected))
        for key, props in expected.items():
            node = nodes.get(key)
            if node is None:
                problems.append(f"{label} {key}: no node")
            elif content_hash(node) != content_hash(props):
                problems.append(
                    f"{label} {key}: properties differ from PostgreSQL ({', '.join(_differing(props, node))})"
                )
    # An empty entity leaves no property to compare (G1 and X1 count its stray nodes); the check
    # asked nothing only when every entity was empty.
    unasked = [] if sampled else ["PostgreSQL has no rows in any entity: no property to compare"]
    outcome = CheckOutcome.from_problems(
        "G5_property_parity",
        problems,
        f"{sampled} sampled nodes compared",
        unasked,
        sampled=sampled,
        asked=sampled,
        empty_labels=len(empty),
    )
    if empty:
        outcome.notes["empty_labels"] = ", ".join(empty)
    return outcome


# -- G6 -------------------------------------------------------------------------------------------

_EXCLUDE = re.compile(r"EXCLUDE USING gist \((?P<body>.*)\)", re.IGNORECASE)
_EQUAL = re.compile(r"(\w+) WITH =")
_RANGE = re.compile(r"tstzrange\((\w+), (\w+)\) WITH &&")


@dataclass(frozen=True)
class Interval:
    owner: str  # the row behind it, for messages
    start: datetime
    end: datetime | None  # None: open


def _exclusions(ctx: CheckContext, table: str) -> list[tuple[str, ...]]:
    """The equality columns of each no-overlap (EXCLUDE) constraint PostgreSQL enforces on the table
    over tstzrange(valid_from, valid_to)."""
    rules = []
    for (definition,) in ctx.sql(
        "select pg_get_constraintdef(oid) from pg_constraint where contype = 'x' and conrelid = to_regclass(%s)",
        (table,),
    ):
        match = _EXCLUDE.search(definition)
        bounds = _RANGE.search(definition)
        if match and bounds and bounds.groups() == ("valid_from", "valid_to"):
            rules.append(tuple(_EQUAL.findall(match.group("body"))))
    return rules


def _overlaps(what: str, groups: dict[tuple, list[Interval]]) -> list[str]:
    """Intervals of one group that overlap ([from, to), as tstzrange; empty ones overlap nothing)."""
    problems = []
    for group, intervals in groups.items():
        reach: Interval | None = None  # the interval reaching furthest so far
        for current in sorted((i for i in intervals if i.end is None or i.end > i.start), key=lambda i: i.start):
            if reach is not None and (reach.end is None or current.start < reach.end):
                problems.append(
                    f"{what} {' '.join(map(str, group))}: {reach.owner} [{reach.start.isoformat()}, "
                    f"{reach.end.isoformat() if reach.end else 'open'}) overlaps {current.owner} "
                    f"from {current.start.isoformat()}"
                )
                break
            if reach is None or (current.end is None or (reach.end is not None and current.end > reach.end)):
                reach = current
    return problems


def _interval(what: str, owner: str, start: Any, end: Any, problems: list[str]) -> Interval | None:
    begins, ends = _instant(start), _instant(end)
    if begins is None:
        problems.append(f"{what} {owner}: valid_from missing or unreadable ({start!r})")
        return None
    if end is not None and ends is None:
        problems.append(f"{what} {owner}: valid_to unreadable ({end!r})")
        return None
    if ends is not None and ends < begins:
        problems.append(f"{what} {owner}: valid_to {end} is before valid_from {start}")
        return None
    return Interval(owner, begins, ends)


def _projection_rules(rel: dict[str, Any], rules: list[tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    """The entity's no-overlap rules spelled on its projected edge: 'from'/'to' for the end nodes'
    keys, else edge properties; rules the edge cannot express are left to the node check."""
    spelled = []
    for columns in rules:
        parts: list[str] = []
        rest = set(columns)
        for end, end_columns in (("from", rel["from_columns"]), ("to", rel["to_columns"])):
            if set(end_columns) <= rest:
                parts.append(end)
                rest -= set(end_columns)
        if rest <= set(rel.get("properties", [])):
            spelled.append((f"{rel['type']} per ({', '.join(columns)})", (*parts, *sorted(rest))))
    return spelled


def _edge_intervals(ctx: CheckContext, entity: Entity, rules: list[tuple[str, ...]], problems: list[str]) -> int:
    label, checked = _label(entity), 0
    for rel in entity.meta.get("relationships", []):
        if "from_columns" not in rel or "valid_from" not in rel.get("properties", []):
            continue
        props = sorted(set(rel.get("properties", [])) - {"valid_from", "valid_to"})
        returned = ", ".join(f"r.`{p}`" for p in props)
        start = _label(_parent(ctx.catalog, entity, rel["from_columns"]))
        rows = ctx.graph.run(
            f"MATCH (a:`{start}`)-[r:`{rel['type']}`]->(b) RETURN a.key, b.key, r._owner, r.valid_from, r.valid_to"
            + (f", {returned}" if returned else "")
        )
        spelled = _projection_rules(rel, rules)
        groups: dict[str, dict[tuple, list[Interval]]] = {name: defaultdict(list) for name, _ in spelled}
        for row in rows:
            start_key, end_key, owner, valid_from, valid_to = row[:5]
            if not str(owner).startswith(f"{label}:"):
                continue
            checked += 1
            interval = _interval(rel["type"], str(owner), valid_from, valid_to, problems)
            if interval is None:
                continue
            values = {"from": start_key, "to": end_key, **dict(zip(props, row[5:], strict=True))}
            for name, parts in spelled:
                group = tuple(values.get(p) for p in parts)
                if None not in group:  # NULL never equals NULL in an EXCLUDE constraint either
                    groups[name][group].append(interval)
        for name, by_group in groups.items():
            problems += _overlaps(name, by_group)
    return checked


def _node_intervals(ctx: CheckContext, entity: Entity, rules: list[tuple[str, ...]], problems: list[str]) -> int:
    label = _label(entity)
    columns = sorted({c for rule in rules for c in rule})
    returned = "".join(f", n.`{c}`" for c in columns)
    rows = ctx.graph.run(f"MATCH (n:`{label}`) RETURN n.key, n.valid_from, n.valid_to{returned}")
    groups: dict[tuple[str, ...], dict[tuple, list[Interval]]] = {rule: defaultdict(list) for rule in rules}
    for key, valid_from, valid_to, *values in rows:
        interval = _interval(label, f"{label}:{key}", valid_from, valid_to, problems)
        if interval is None:
            continue
        by_column = dict(zip(columns, values, strict=True))
        for rule in rules:
            group = tuple(by_column[c] for c in rule)
            if None not in group:
                groups[rule][group].append(interval)
    for rule, by_group in groups.items():
        problems += _overlaps(f"{label} per ({', '.join(rule)})", by_group)
    return len(rows)


def _versions(ctx: CheckContext, entity: Entity, problems: list[str]) -> int:
    """VERSION self-edges: one key's versions never overlap; read by PostgreSQL's keys, in batches."""
    label, checked = _label(entity), 0
    groups: dict[tuple, list[Interval]] = defaultdict(list)
    keys = list(_pg_keys(ctx, entity))
    for part in _chunks(keys):
        for key, other, valid_from, valid_to in ctx.graph.run(
            f"UNWIND $keys AS k MATCH (n:`{label}` {{key: k}})-[r:{VERSION}]->(m)"
            " RETURN k, m.key, r.valid_from, r.valid_to",
            {"keys": part},
        ):
            checked += 1
            if other != key:
                problems.append(f"VERSION {label} {key}: a version edge leads to another node ({other})")
                continue
            interval = _interval(f"VERSION {label}", f"{label}:{key} version", valid_from, valid_to, problems)
            if interval is not None:
                groups[(key,)].append(interval)
    problems += _overlaps(f"VERSION {label}", groups)
    return checked


@check("graph", "G6_temporal_relationships")
def temporal_relationships(ctx: CheckContext) -> CheckOutcome:
    """Interval relationships and rows (DROVE, OWNS, LOCATED_AT, RELATED_TO, VERSION, ...) run
    forward in time and never overlap where PostgreSQL forbids it."""
    problems: list[str] = []
    edges = nodes = versions = 0
    for entity in ctx.catalog.entities:
        rules = _exclusions(ctx, entity.qualified_name)
        edges += _edge_intervals(ctx, entity, rules, problems)
        if entity.history == "interval":
            nodes += _node_intervals(ctx, entity, rules, problems)
        if entity.history == "scd2":
            versions += _versions(ctx, entity, problems)
    summary = f"{edges} interval relationships, {versions} versions and {nodes} interval nodes"
    asked = edges + versions + nodes
    unasked = [] if asked else ["the graph has no interval relationship, version or interval node: no bound to read"]
    return CheckOutcome.from_problems(
        "G6_temporal_relationships",
        problems,
        summary,
        unasked,
        relationships=edges,
        versions=versions,
        nodes=nodes,
        asked=asked,
    )


# -- G7 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    name: str
    #: SQL over the catalog's tables ({model} placeholders) with columns key, answer, valid_from and
    #: valid_to: the path's answers from each start key, with the interval of the time-bound hop
    answer_sql: str
    #: Cypher from the start keys in $keys returning the same four columns
    answer_cypher: str


_PATHS = (
    Path(
        "Load -> Carrier -> Party -> Address",
        "select l.load_number::text as key, pa.address_id::text as answer, pa.valid_from, pa.valid_to"
        " from {loads} l join {carriers} c on c.usdot_number = l.carrier_usdot"
        " join {party_addresses} pa on pa.party_id = c.party_id",
        "UNWIND $keys AS k MATCH (:Load {key: k})-[:COVERED_BY]->(:Carrier)-[:IS]->(:Party)"
        "-[r:LOCATED_AT]->(a:Address) RETURN k, a.key, r.valid_from, r.valid_to",
    ),
    Path(
        "Tractor -> current Driver -> Party",
        "select da.unit_number::text as key, da.driver_code || '|' || d.party_id::text as answer,"
        " da.valid_from, da.valid_to"
        " from {driver_assignments} da join {drivers} d on d.driver_code = da.driver_code",
        "UNWIND $keys AS k MATCH (:Tractor {key: k})<-[r:DROVE]-(d:Driver)-[:IS]->(p:Party)"
        " RETURN k, d.key + '|' + p.key, r.valid_from, r.valid_to",
    ),
    Path(
        # The design's own names (its Tractor entry): a load's tractor and who drives it now.
        "Load -ASSIGNED_UNIT-> Tractor -ASSIGNED_TO-> current Driver",
        "select t.openhaul_load_number::text as key, da.driver_code::text as answer, da.valid_from, da.valid_to"
        " from {trips} t join {driver_assignments} da on da.unit_number = t.unit_number"
        " where t.openhaul_load_number is not null",
        "UNWIND $keys AS k MATCH (:Load {key: k})-[:ASSIGNED_UNIT]->(:Tractor)-[r:ASSIGNED_TO]->(d:Driver)"
        " RETURN k, d.key, r.valid_from, r.valid_to",
    ),
    Path(
        "Person 'G' -> Party -OWNS-> LegalEntity",
        "select p.person_id::text as key, os.entity_code::text as answer, os.valid_from, os.valid_to"
        " from {persons} p join {ownership_stakes} os on os.owner_party_id = p.party_id where p.is_owner",
        "UNWIND $keys AS k MATCH (:Person {key: k})-[:IS]->(:Party)-[r:OWNS]->(e:LegalEntity)"
        " RETURN k, e.key, r.valid_from, r.valid_to",
    ),
)


def _current(now: datetime, valid_from: Any, valid_to: Any) -> bool:
    begins, ends = _instant(valid_from), _instant(valid_to)
    return begins is not None and begins <= now and (ends is None or ends > now)


def _answers(rows: Iterable[Iterable[Any]], now: datetime) -> dict[str, set[str]]:
    """Current answers per start key (the time-bound hop holds now)."""
    found: dict[str, set[str]] = defaultdict(set)
    for key, answer, valid_from, valid_to in rows:
        if _current(now, valid_from, valid_to):
            found[str(key)].add(str(answer))
    return found


@check("graph", "G7_cross_hub_navigation")
def cross_hub_navigation(ctx: CheckContext) -> CheckOutcome:
    """Cross-hub paths (Load -> Carrier -> Party -> Address; Tractor -> current Driver -> Party;
    Load -ASSIGNED_UNIT-> Tractor -ASSIGNED_TO-> Driver; Person 'G' -> Party -OWNS-> LegalEntity)
    answer in the graph as in PostgreSQL for known keys."""
    tables = {e.model: sql.Identifier(e.schema, e.table) for e in ctx.catalog.entities}
    now = datetime.now(UTC)
    problems, checked, unasked = [], 0, []
    for path in _PATHS:
        answers = sql.SQL(path.answer_sql).format(**tables)
        # known keys: start keys from which PostgreSQL says the path leads somewhere now
        known = sql.SQL(
            "select key from ({}) as q where valid_from <= %(now)s and (valid_to is null or valid_to > %(now)s)"
            " group by key order by random() limit %(n)s"
        ).format(answers)
        keys = [k for (k,) in ctx.sql(known, {"now": now, "n": PATH_SAMPLE})]
        truth = _answers(
            ctx.sql(sql.SQL("select * from ({}) as q where key = any(%(keys)s)").format(answers), {"keys": keys}), now
        )
        found = _answers(ctx.graph.run(path.answer_cypher, {"keys": keys}), now)
        checked += len(keys)
        if not keys:
            # Each path is its own question: one without a start key went unasked however many
            # the others had.
            unasked.append(f"{path.name}: PostgreSQL has no start key from which the path leads anywhere now")
        for key in keys:
            if found.get(key, set()) != truth[key]:
                problems.append(
                    f"{path.name} from {key}: the graph answers {_shown(sorted(found.get(key, set()))) or 'nothing'}"
                    f" but PostgreSQL {_shown(sorted(truth[key]))}"
                )
    return CheckOutcome.from_problems(
        "G7_cross_hub_navigation",
        problems,
        f"{len(_PATHS)} paths from {checked} known keys",
        unasked,
        keys=checked,
        asked=checked,
        paths_unasked=len(unasked),
    )


# -- G8 -------------------------------------------------------------------------------------------


@check("graph", "G8_label_and_type_set")
def label_and_type_set(ctx: CheckContext) -> CheckOutcome:
    """The graph's node labels and relationship types are the catalog's: nothing extra, nothing missing."""
    graph = ctx.graph
    catalog_labels = {_label(e) for e in ctx.catalog.entities}
    catalog_types = Relationships(ctx.catalog).types()
    # A server may list a label or type that no longer has any node or edge (FalkorDB keeps them in
    # its schema): only those in use count. Both servers count a label or type without a scan.
    labels = {r[0] for r in graph.run("CALL db.labels()")} - graph.foreign_labels
    types = {r[0] for r in graph.run("CALL db.relationshipTypes()")} - graph.foreign_types
    used_labels = {lb for lb in labels | catalog_labels if _node_count(graph, lb)}
    used_types = {t for t in types | catalog_types if _edge_count(graph, t)}
    wanted_labels = {_label(e) for e in ctx.catalog.entities if _pg_count(ctx, e)}
    wanted_types = expected_edges(ctx).types()
    problems = [f"label {lb} is not in the catalog" for lb in sorted(used_labels - catalog_labels)]
    problems += [f"relationship type {t} is not in the catalog" for t in sorted(used_types - catalog_types)]
    problems += [f"label {lb}: no nodes although PostgreSQL has rows" for lb in sorted(wanted_labels - used_labels)]
    problems += [
        f"relationship type {t}: no relationships although PostgreSQL implies some"
        for t in sorted(wanted_types - used_types)
    ]
    summary = f"{len(used_labels)} labels and {len(used_types)} relationship types in use"
    unasked = [] if wanted_labels else ["PostgreSQL has no rows in any entity: no label or type it implies"]
    return CheckOutcome.from_problems(
        "G8_label_and_type_set",
        problems,
        summary,
        unasked,
        labels=len(used_labels),
        types=len(used_types),
        asked=len(wanted_labels) + len(wanted_types),
    )


# -- G9 -------------------------------------------------------------------------------------------


def _gone(ctx: CheckContext, entity: Entity) -> list[str]:
    """Keys whose delete was applied and that PostgreSQL has not received again since."""
    match = sql.SQL(" and ").join(
        sql.SQL("t.{c} = (d.key ->> {n})::{type}").format(
            c=sql.Identifier(c), n=sql.Literal(c), type=sql.SQL(entity.column(c).data_type)
        )
        for c in entity.primary_key
    )
    query = sql.SQL(
        "select distinct d.key from hubs_meta.hub_deletions as d where d.entity = %s and d.status = 'applied'"
        " and not exists (select 1 from {t} as t where {m})"
    ).format(t=hub_table(entity), m=match)
    return sorted({key_from_json(entity, key) for (key,) in ctx.sql(query, (entity.qualified_name,))})


@check("graph", "G9_deletes_propagated")
def deletes_propagated(ctx: CheckContext) -> CheckOutcome:
    """Rows deleted from PostgreSQL (applied deletes in hubs_meta.hub_deletions) have no node and
    no relationship they owned left in the graph."""
    [[logged]] = ctx.sql("select to_regclass('hubs_meta.hub_deletions') is not null")
    problems, deleted = [], 0
    relationships = Relationships(ctx.catalog)
    for entity in ctx.catalog.entities if logged else ():
        keys = _gone(ctx, entity)
        if not keys:
            continue
        deleted += len(keys)
        label = _label(entity)
        for part in _chunks(keys):
            for (key,) in ctx.graph.run(
                f"UNWIND $keys AS k MATCH (n:`{label}` {{key: k}}) RETURN DISTINCT k", {"keys": part}
            ):
                problems.append(f"{label} {key}: deleted in PostgreSQL but still a node in the graph")
            owners = [f"{label}:{k}" for k in part]
            for rel_type in relationships.projection_types(entity):
                for owner, count in ctx.graph.run(
                    f"UNWIND $owners AS o MATCH ()-[r:`{rel_type}` {{_owner: o}}]->() RETURN o, count(r)",
                    {"owners": owners},
                ):
                    problems.append(f"{rel_type}: {count} relationship(s) of deleted {owner} still in the graph")
    why = "no delete has been applied (hubs_meta.hub_deletions)" if logged else "no delete log yet"
    unasked = [] if deleted else [f"{why}: no deleted key to look up"]
    return CheckOutcome.from_problems(
        "G9_deletes_propagated", problems, f"{deleted} deleted keys looked up", unasked, deleted=deleted, asked=deleted
    )


# -- G10 ------------------------------------------------------------------------------------------


@check("graph", "G10_filter_indexes")
def filter_indexes(ctx: CheckContext) -> CheckOutcome:
    """The properties queries filter on (statuses, dates, names, the sync's edge owners) are indexed
    where the server's index answers right, and not where it does not (FalkorDB: dates, numbers)."""
    relationships = Relationships(ctx.catalog)
    wanted: set[tuple[str, str, str]] = set()
    wrong: set[tuple[str, str, str]] = set()  # indexes that would change answers
    for entity in ctx.catalog.entities:
        indexed = indexed_properties(entity, ctx.graph)
        wanted |= {("node_index", _label(entity), p) for p in indexed}
        wrong |= {("node_index", _label(entity), p) for p in filtered_properties(entity) if p not in indexed}
        wanted |= {("edge_index", t, "_owner") for t in relationships.projection_types(entity)}
        if entity.history == "scd2":
            wanted.add(("edge_index", VERSION, "_owner"))
    online: dict[tuple[str, str, str], bool] = {}
    for item in ctx.graph.schema():
        if item.kind in ("node_index", "edge_index"):
            where = (item.kind, item.label, item.prop)
            online[where] = online.get(where, False) or item.online
    problems = []
    for kind, label, prop in sorted(wanted):
        what = f"{label}.{prop}" if kind == "node_index" else f"[:{label}].{prop}"
        if (kind, label, prop) not in online:
            problems.append(f"{what}: no index")
        elif not online[(kind, label, prop)]:
            problems.append(f"{what}: index not online")
    for _, label, prop in sorted(wrong & online.keys()):
        problems.append(f"{label}.{prop}: indexed, and this server answers comparisons through that index wrongly")
    return CheckOutcome.from_problems(
        "G10_filter_indexes", problems, f"{len(wanted)} indexes expected", indexes=len(wanted)
    )


# -- X1 -------------------------------------------------------------------------------------------


def _hash_batch(graph: GraphDialect, label: str, hashes: dict[str, str], problems: list[str]) -> None:
    nodes = _nodes(graph, label, list(hashes))
    for key, expected in hashes.items():
        node = nodes.get(key)
        if node is None:
            problems.append(f"{label} {key}: no node")
        elif content_hash(node) != expected:
            problems.append(f"{label} {key}: row hash differs from PostgreSQL")


@check("graph", "X1_postgres_graph_parity")
def postgres_graph_parity(ctx: CheckContext) -> CheckOutcome:
    """Every PostgreSQL row has its node with the same row hash, per entity, and every relationship
    type has as many relationships as PostgreSQL implies."""
    problems: list[str] = []
    rows = 0
    for entity in ctx.catalog.entities:
        label, count, hashes = _label(entity), 0, {}
        try:
            for row in current_rows(ctx.conn, entity):
                hashes[key_of(entity, row)] = content_hash(properties(entity, row))
                if len(hashes) >= BATCH:
                    _hash_batch(ctx.graph, label, hashes, problems)
                    count, hashes = count + len(hashes), {}
        finally:
            ctx.conn.rollback()
        _hash_batch(ctx.graph, label, hashes, problems)
        count += len(hashes)
        rows += count
        nodes = _node_count(ctx.graph, label)
        if nodes != count:
            problems.append(f"{label}: {nodes} node(s) in the graph, {count} row(s) in PostgreSQL")
    tally = expected_edges(ctx)
    problems += edge_problems(ctx, tally, graph_edges(ctx.graph, ctx.catalog))
    summary = f"{rows} rows of {len(ctx.catalog.entities)} entities and {sum(tally.counts.values())} relationships"
    unasked = [] if rows else ["PostgreSQL has no rows in any entity: no row hash to compare"]
    return CheckOutcome.from_problems(
        "X1_postgres_graph_parity",
        problems,
        summary,
        unasked,
        rows=rows,
        relationships=sum(tally.counts.values()),
        asked=rows,
    )
