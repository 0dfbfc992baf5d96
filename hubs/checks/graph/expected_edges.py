"""Relationships: what PostgreSQL implies, per (type, start label, end label), and what the
graph holds (G2; G8 and X1 read the tally too)."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from psycopg2 import sql

from hubs.catalog import Catalog, Entity
from hubs.catalog_meta import Relationship
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.checks.graph.reading import (
    DIAGNOSE,
    Group,
    edge_count,
    ident,
    label_of,
    not_null,
    quoted,
    rows_of,
)
from hubs.sync.feed import history_table, hub_table
from hubs.sync.graph.dialect import GraphDialect
from hubs.sync.graph.edges import VERSION, Relationships
from hubs.sync.records import join_key, key_of, normalize

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
_DERIVED_FORMS = ("subject", "typed_key", "json")


def _column_pairs(entity: Entity, rel: Relationship, tally: EdgeTally, group: Group) -> sql.Composable:
    """Expected edges between the rows named by two column lists of each row (both non-null)."""
    start, end = list(rel.start_columns), list(rel.end_columns)
    query = sql.SQL("select {s}, {e} from {t} as t where {nn}").format(
        s=ident(start, "t"), e=ident(end, "t"), t=hub_table(entity), nn=not_null([*start, *end])
    )
    tally.queries[group].append((query, len(start), len(end)))
    return sql.SQL("count(*) filter (where {})").format(not_null([*start, *end]))


def _group(rel: Relationship) -> Group:
    [end] = rel.end_labels
    return (rel.type, rel.start_label, end)


def _sql_edges(ctx: CheckContext, entity: Entity, tally: EdgeTally) -> None:
    """Foreign-key, projection, link, array and version edges of the entity, counted in SQL."""
    label = label_of(entity)
    pairs = [(_group(rel), rel) for rel in entity.relationships if rel.is_pair]
    counters = [(group, _column_pairs(entity, rel, tally, group)) for group, rel in pairs]
    if counters:
        query = sql.SQL("select {} from {} as t").format(sql.SQL(", ").join(c for _, c in counters), hub_table(entity))
        for (group, _), n in zip(counters, ctx.sql(query)[0], strict=True):
            tally.counts[group] += n
    for rel in entity.relationships:
        if rel.form != "array":
            continue
        target = ctx.catalog.by_model(rel.end_model)
        [target_key] = target.primary_key  # the sync matches array elements to the target's key
        group = _group(rel)
        query = sql.SQL(
            "select {k}, v.ref from {t} as t cross join lateral unnest(t.{c}) as v (ref)"
            " where exists (select 1 from {p} as p where p.{pk} = v.ref)"
        ).format(
            k=ident(entity.primary_key, "t"),
            t=hub_table(entity),
            c=sql.Identifier(rel.column),
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
            k=ident(entity.primary_key, "h"), h=history, t=hub_table(entity), m=match
        )
        tally.counts[group] += ctx.sql(sql.SQL("select count(*) from ({}) as q").format(query))[0][0]
        tally.queries[group].append((query, len(entity.primary_key), len(entity.primary_key)))


def _derived_edges(ctx: CheckContext, tally: EdgeTally) -> None:
    """Edges read out of values, kept where PostgreSQL has the row they point at."""
    relationships = Relationships(ctx.catalog)
    found: list[tuple[str, str, str, str, str, str]] = []  # type, start label, start key, end label, key, property
    for entity in ctx.catalog.entities:
        derived = tuple(r for r in entity.relationships if r.form in _DERIVED_FORMS)
        if not derived:
            continue
        only_derived = replace(entity, relationships=derived)
        for row in rows_of(ctx, sql.SQL("select * from {}").format(hub_table(entity))):
            key = key_of(entity, row)
            for edge in relationships.indirect(only_derived, key, row):
                found.append((edge.type, edge.from_label, edge.from_key, edge.to_label, edge.to_key, edge.to_property))
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, _, _, to_label, to_key, prop in found:
        wanted[(to_label, prop)].add(to_key)
    by_label = {label_of(e): e for e in ctx.catalog.entities}
    existing: dict[tuple[str, str], Counter] = {}
    for (label, prop), values in wanted.items():
        entity = by_label[label]
        columns = list(entity.primary_key) if prop == "key" else [prop]
        query = sql.SQL("select {} from {} as t").format(ident(columns, "t"), hub_table(entity))
        seen: Counter = Counter()
        for row in rows_of(ctx, query):
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
    if "expected_edges" in ctx.memo:
        return ctx.memo["expected_edges"]
    tally = EdgeTally()
    for entity in ctx.catalog.entities:
        _sql_edges(ctx, entity, tally)
    _derived_edges(ctx, tally)
    ctx.memo["expected_edges"] = tally
    return tally


def _labels_text(labels: list[str]) -> str:
    return ":".join(sorted(labels)) if labels else "(no label)"


def start_labels(catalog: Catalog) -> dict[str, set[str]]:
    """Per relationship type, the labels the catalog has its relationships start from."""
    starts: dict[str, set[str]] = defaultdict(set)
    for entity in catalog.entities:
        for rel in entity.relationships:
            starts[rel.type].add(rel.start_label)
        if entity.history == "scd2":
            starts[VERSION].add(label_of(entity))
    return starts


_GROUPED = "RETURN labels(a), labels(b), count(r), sum(CASE WHEN a.key IS NULL OR b.key IS NULL THEN 1 ELSE 0 END)"


def graph_edges(graph: GraphDialect, catalog: Catalog) -> dict[Group, tuple[int, int]]:
    """Per group: the relationships the graph holds, and how many of them touch a keyless node.

    Each type is read from the labels the catalog starts it at (an unlabelled start makes
    FalkorDB scan every node, per type); when those do not add up to the type's count, which
    both servers keep, some start elsewhere and the type is read whole."""
    held: dict[Group, tuple[int, int]] = {}
    for rel_type, starts in sorted(start_labels(catalog).items()):
        total = edge_count(graph, rel_type)
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
        for values in rows_of(ctx, query, named=False):
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
                detail += f"; missing {quoted(f'{a}->{b}' for a, b in missing)}"
            if extra:
                detail += f"; not implied by PostgreSQL {quoted(f'{a}->{b}' for a, b in extra)}"
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
