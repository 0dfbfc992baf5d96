"""Neighbours from PostgreSQL: the graph's relationships computed from the rows that make them,
with SQL generated from the typed catalog.

A relationship whose two ends are named by columns of one row (forms fk, edge, link: the
relationship's start_columns and end_columns) is a join of the owning table with the table at
the other end; an array (a row listing the keys of its ends) is the same over the array's
elements. The far end's table is always joined, so a relationship counts only when both of its
nodes exist, as in the graph (which writes an edge only once both nodes are there). The other
forms (typed keys, subjects, JSON documents) are not answered here: `uncovered` names them.

Every name in the SQL is the catalog's; keys, times and limits are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog, Entity
from hubs.catalog_meta import PAIR_FORMS, Relationship
from hubs.recall.expand import Found, Frontier, Step
from hubs.recall.model import Node, NodeRef, Relation
from hubs.sync.feed import hub_table
from hubs.sync.records import join_key, key_of, normalize, properties, split_key

COVERED_FORMS = (*PAIR_FORMS, "array")


def _matching(columns: tuple[str, ...]) -> sql.Composable:
    """`t.c1 = k.k0 and ...`: the owning row's columns equal to the frontier key's parts."""
    return sql.SQL(" and ").join(
        sql.SQL("{} = {}").format(sql.Identifier("t", c), sql.Identifier("k", f"k{i}")) for i, c in enumerate(columns)
    )


def _keys_join(owner: Entity, columns: tuple[str, ...], on: sql.Composable) -> sql.Composable:
    """`join unnest(%(k0)s::type[], ...) as k (k0, ...) on <on>`: the frontier's keys, part by part,
    each read as its column's type (the key index of the owning table serves the join)."""
    arrays = sql.SQL(", ").join(
        sql.SQL("%({})s::{}[]").format(sql.SQL(f"k{i}"), sql.SQL(owner.column(c).data_type.removesuffix("[]")))
        for i, c in enumerate(columns)
    )
    names = sql.SQL(", ").join(sql.Identifier(f"k{i}") for i in range(len(columns)))
    return sql.SQL("join unnest({}) as k ({}) on {}").format(arrays, names, on)


def _equal(left: str, left_columns: tuple[str, ...], right: str, right_columns: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(" and ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, a), sql.Identifier(right, b))
        for a, b in zip(left_columns, right_columns, strict=True)
    )


def _interval(relation: Relationship) -> sql.Composable:
    """Valid at the time asked, for a relationship that carries valid_from (and valid_to): the
    condition graph.py puts on the edge's properties."""
    if "valid_from" not in relation.properties:
        return sql.SQL("")
    until = " and (t.valid_to is null or t.valid_to > %(at)s::timestamptz)" if "valid_to" in relation.properties else ""
    return sql.SQL(f" and (t.valid_from is null or (t.valid_from <= %(at)s::timestamptz{until}))")


@dataclass(frozen=True)
class Plan:
    """One relationship read from one of its ends (the near end: where the frontier is)."""

    relation: Relationship
    near_label: str
    far_label: str
    near_width: int  # key columns of the near end
    lead: int  # selected values before the far row's columns
    base: sql.Composed  # select ... where true
    interval: sql.Composable
    decode: Any  # (plan, values before the far row, far row) -> Found

    def query(self, timed: bool) -> sql.Composed:
        return sql.Composed([self.base, self.interval if timed else sql.SQL(""), sql.SQL(" limit %(cap)s")])


def _pair(relation: Relationship, near_is_start: bool, models: dict[str, Entity]) -> Plan:
    owner = models[relation.owner]
    ends = (relation.start_columns, relation.end_columns)
    near, far = ends if near_is_start else ends[::-1]
    other = models[relation.end_model if near_is_start else relation.start_model]
    columns = (*owner.primary_key, *relation.start_columns, *relation.end_columns, *relation.properties)
    base = sql.SQL("select {}, o.* from {} as t {} join {} as o on {} where true").format(
        sql.SQL(", ").join(sql.Identifier("t", c) for c in columns),
        hub_table(owner),
        _keys_join(owner, near, _matching(near)),
        hub_table(other),
        _equal("o", other.primary_key, "t", far),
    )
    widths = (len(owner.primary_key), len(relation.start_columns), len(relation.end_columns))

    def decode(values: list[Any], row: dict[str, Any]) -> Found:
        cuts = [0, widths[0], widths[0] + widths[1], sum(widths)]
        owner_key, start, end = (join_key(values[a:b]) for a, b in pairwise(cuts))
        props = {p: normalize(v) for p, v in zip(relation.properties, values[cuts[3] :], strict=True) if v is not None}
        [end_label] = relation.end_labels
        rel = Relation(
            relation.type,
            NodeRef(relation.start_label, start),
            NodeRef(end_label, end),
            props,
            f"{owner.label}:{owner_key}",
        )
        return rel, Node(other.label, key_of(other, row), 0, properties(other, row))

    near_label = relation.start_label if near_is_start else relation.end_labels[0]
    return Plan(relation, near_label, other.label, len(near), len(columns), base, _interval(relation), decode)


def _array(relation: Relationship, near_is_start: bool, models: dict[str, Entity]) -> Plan | None:
    owner, target = models[relation.owner], models[relation.end_model]
    if len(target.primary_key) != 1:
        return None  # an array holds one value per end: only an end with a one-column key
    [target_key] = target.primary_key
    column = sql.Identifier("t", relation.column)
    if near_is_start:  # the owner's row lists its ends
        base = sql.SQL(
            "select {}, o.* from {} as t {} cross join lateral unnest({}) as e (element) join {} as o on {} = e.element"
            " where true"
        ).format(
            sql.SQL(", ").join(sql.Identifier("t", c) for c in owner.primary_key),
            hub_table(owner),
            _keys_join(owner, owner.primary_key, _matching(owner.primary_key)),
            column,
            hub_table(target),
            sql.Identifier("o", target_key),
        )

        def decode(values: list[Any], row: dict[str, Any]) -> Found:
            start, end = NodeRef(owner.label, join_key(values)), NodeRef(target.label, key_of(target, row))
            return Relation(relation.type, start, end, {}, f"{owner.label}:{start.key}"), Node(
                target.label, end.key, 0, properties(target, row)
            )

        width = len(owner.primary_key)
        return Plan(relation, owner.label, target.label, width, width, base, sql.SQL(""), decode)
    # the frontier is at the listed ends: the rows whose array holds them (its GIN index serves @>)
    base = sql.SQL("select k.k0, t.* from {} as t {} where true").format(
        hub_table(owner), _keys_join(owner, (relation.column,), sql.SQL("{} @> array[k.k0]").format(column))
    )

    def decode_in(values: list[Any], row: dict[str, Any]) -> Found:
        start, end = NodeRef(owner.label, key_of(owner, row)), NodeRef(target.label, join_key(values))
        return Relation(relation.type, start, end, {}, f"{owner.label}:{start.key}"), Node(
            owner.label, start.key, 0, properties(owner, row)
        )

    return Plan(relation, target.label, owner.label, 1, 1, base, sql.SQL(""), decode_in)


class PostgresSide:
    """The hop plans of every covered relationship, by the label and side of its near end."""

    def __init__(self, catalog: Catalog) -> None:
        models = {e.model: e for e in catalog.entities}
        self.plans: dict[tuple[str, bool], list[Plan]] = {}  # (near label, near is start) -> plans
        self.uncovered: dict[str, set[str]] = {}  # relationship type -> forms not answered here
        for entity in catalog.entities:
            for relation in entity.relationships:
                if relation.form not in COVERED_FORMS:
                    self.uncovered.setdefault(relation.type, set()).add(relation.form)
                    continue
                build = _pair if relation.form in PAIR_FORMS else _array
                for near_is_start in (True, False):
                    plan = build(relation, near_is_start, models)
                    if plan is not None:
                        self.plans.setdefault((plan.near_label, near_is_start), []).append(plan)

    def not_included(self, types: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f"{t} ({', '.join(sorted(self.uncovered[t]))})" for t in types if t in self.uncovered)

    def _chosen(self, label: str, step: Step) -> list[Plan]:
        sides = [s for s, asked in ((True, step.outgoing), (False, step.incoming)) if asked]
        return [
            plan
            for side in sides
            for plan in self.plans.get((label, side), [])
            if plan.relation.type in step.types and (step.labels is None or plan.far_label in step.labels)
        ]

    def expand(self, conn: Connection, frontier: Frontier, step: Step) -> tuple[list[Found], bool]:
        found: list[Found] = []
        capped = False
        for label, keys in sorted(frontier.items()):
            for plan in self._chosen(label, step):
                parts = _parts(keys, plan.near_width)
                if not parts:
                    continue
                params = {f"k{i}": [p[i] for p in parts] for i in range(plan.near_width)}
                params.update(at=step.at, cap=step.cap)
                with conn.cursor() as cur:
                    cur.execute(plan.query(step.at is not None), params)
                    names = [d.name for d in cur.description]
                    rows = cur.fetchall()
                capped |= len(rows) >= step.cap
                width = plan.lead  # the far row's columns (o.* or t.*) come last
                found += [plan.decode(list(r[:width]), dict(zip(names[width:], r[width:], strict=True))) for r in rows]
        return found, capped


def _parts(keys: list[str], width: int) -> list[list[str]]:
    parts = []
    for key in keys:
        try:
            parts.append(split_key(key, width))
        except ValueError:
            continue  # a key of another shape matches nothing here
    return parts
