"""Temporal relationships (G6): intervals and versions in the graph as PostgreSQL's exclusion
constraints allow them."""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubs.catalog import Entity
from hubs.catalog_meta import Relationship
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.checks.graph.reading import (
    BATCH,
    as_instant,
    label_of,
    pg_keys,
)
from hubs.sync.graph.edges import VERSION
from hubs.sync.records import chunks

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
    begins, ends = as_instant(start), as_instant(end)
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


def _projection_rules(rel: Relationship, rules: list[tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    """The entity's no-overlap rules spelled on its projected edge: 'from'/'to' for the end nodes'
    keys, else edge properties; rules the edge cannot express are left to the node check."""
    spelled = []
    for columns in rules:
        parts: list[str] = []
        rest = set(columns)
        for end, end_columns in (("from", rel.start_columns), ("to", rel.end_columns)):
            if set(end_columns) <= rest:
                parts.append(end)
                rest -= set(end_columns)
        if rest <= set(rel.properties):
            spelled.append((f"{rel.type} per ({', '.join(columns)})", (*parts, *sorted(rest))))
    return spelled


def _edge_intervals(ctx: CheckContext, entity: Entity, rules: list[tuple[str, ...]], problems: list[str]) -> int:
    label, checked = label_of(entity), 0
    for rel in entity.relationships:
        if rel.form != "edge" or "valid_from" not in rel.properties:
            continue
        props = sorted(set(rel.properties) - {"valid_from", "valid_to"})
        returned = ", ".join(f"r.`{p}`" for p in props)
        rows = ctx.graph.run(
            f"MATCH (a:`{rel.start_label}`)-[r:`{rel.type}`]->(b)"
            " RETURN a.key, b.key, r._owner, r.valid_from, r.valid_to" + (f", {returned}" if returned else "")
        )
        spelled = _projection_rules(rel, rules)
        groups: dict[str, dict[tuple, list[Interval]]] = {name: defaultdict(list) for name, _ in spelled}
        for row in rows:
            start_key, end_key, owner, valid_from, valid_to = row[:5]
            if not str(owner).startswith(f"{label}:"):
                continue
            checked += 1
            interval = _interval(rel.type, str(owner), valid_from, valid_to, problems)
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
    label = label_of(entity)
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
    label, checked = label_of(entity), 0
    groups: dict[tuple, list[Interval]] = defaultdict(list)
    keys = list(pg_keys(ctx, entity))
    for part in chunks(keys, BATCH):
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
