"""meta.hubs typed: each hub model's label, relationships, cache keys, vectors and timeline,
read and checked once when the catalog loads.

Everything the derived stores hold is declared in a hub model's yml under `meta.hubs`. Reading
it here, with every end of every relationship resolved to an entity and a label, means the graph
writer, the graph checks and the cross-reference ask the same typed model instead of each
dispatching on raw keys, and a mistake in a yml stops `dagster dev` with the model and the key
named instead of surfacing as a KeyError in the middle of a sync.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# meta key that marks a relationship's form -> the form's name
FORM_KEYS = {
    "columns": "fk",  # an edge per foreign key (direction: in draws it from the parent)
    "from_columns": "edge",  # the row is an edge between two of its foreign keys' targets
    "link_to": "link",  # the row links two of its foreign keys' targets and stays a node itself
    "key_columns": "typed_key",  # a (type, key) pair of columns names the end
    "subject_column": "subject",  # one column holds '<entity>:<key>'
    "array_column": "array",  # an array of the end's keys
    "json_column": "json",  # references inside a JSON document
}
# Forms whose two ends are both named by columns of the row (counted in SQL by the checks).
PAIR_FORMS = ("fk", "edge", "link")
COLLECTIONS = ("documents", "knowledge_items", "insights")
MAX_CACHE_TTL_SECONDS = 6 * 3600
TEMPORAL_HISTORIES = ("scd2", "interval")
_LABEL = re.compile(r"[A-Z][A-Za-z]+")
_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")
KEY_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Relationship:
    """One entry of meta.hubs.relationships with its ends resolved to hub models and labels."""

    type: str
    form: str
    owner: str  # the model whose rows make it
    cardinality: str
    #: the design's own pattern for it (meta `design`), "" when it is the platform's own
    design: str
    start_label: str
    #: labels the end can have (one for most forms; several for typed keys and JSON; () = any)
    end_labels: tuple[str, ...]
    #: pair forms and typed keys drawn from a target: the row's columns holding each end's key
    start_columns: tuple[str, ...] = ()
    end_columns: tuple[str, ...] = ()
    start_model: str = ""
    end_model: str = ""
    direction: str = "out"
    properties: tuple[str, ...] = ()
    #: typed keys and JSON lists: value of the type column (or doc_type) -> model of the end
    targets: tuple[tuple[str, str], ...] = ()
    #: the column the form reads (subject, array, JSON), or the (type, key) pair of a typed key
    column: str = ""
    key_columns: tuple[str, ...] = ()
    path: str = ""  # JSON: the document's field holding the end keys
    target_column: str = ""  # the end's property the keys match (default: its key)

    @property
    def is_pair(self) -> bool:
        return self.form in PAIR_FORMS

    @property
    def foreign_key(self) -> tuple[str, ...]:
        """A foreign-key relationship's columns (the end it points at, or its start if drawn in)."""
        if self.form != "fk":
            return ()
        return self.start_columns if self.direction == "in" else self.end_columns

    def target_model(self, value: object) -> str:
        """The model a typed key's type value (or a JSON element's doc_type) names, or ""."""
        return dict(self.targets).get(str(value), "") if value is not None else ""


@dataclass(frozen=True)
class CacheEntry:
    key: str  # pattern, e.g. truck:{unit_number}:status
    fields: tuple[str, ...]
    ttl_seconds: int
    where: str = ""  # SQL condition a row must meet to be cached ("" = every row)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(KEY_PLACEHOLDER.findall(self.key))


@dataclass(frozen=True)
class VectorSpec:
    collection: str
    text: tuple[str, ...]
    payload: tuple[str, ...]
    #: the payload column that is the row's time (search's time range filters on it), "" for none
    time: str = ""


@dataclass(frozen=True)
class HubMeta:
    """The typed meta.hubs of one model."""

    label: str
    relationships: tuple[Relationship, ...]
    cache: tuple[CacheEntry, ...]
    vectors: VectorSpec | None
    facts: tuple[str, ...]  # what the timeline tracks of each version


class MetaProblems(list):
    """What is wrong with the meta of one model, each naming the key it is about."""

    def need(self, ok: object, where: str, message: str) -> bool:
        if not ok:
            self.append(f"{where}: {message}")
        return bool(ok)


@dataclass(frozen=True)
class ModelFacts:
    """What reading one model's meta needs to know of the model and of the catalog."""

    model: str
    entity: str
    history: str
    columns: frozenset[str]
    primary_key: tuple[str, ...]
    #: foreign-key columns -> parent model
    foreign_keys: Mapping[tuple[str, ...], str]
    #: every hub model -> its label
    labels: Mapping[str, str]


def read_meta(meta: dict[str, Any], facts: ModelFacts, problems: MetaProblems) -> HubMeta:
    label = meta.get("label") or ""
    problems.need(
        _LABEL.fullmatch(label) and label.lower() == facts.entity.replace("_", ""),
        "meta.hubs.label",
        f"{label!r} must be the entity name {facts.entity!r} in PascalCase",
    )
    relationships = meta.get("relationships")
    problems.need(relationships is not None, "meta.hubs.relationships", "missing (write [] for none)")
    rels = tuple(
        rel
        for i, raw in enumerate(relationships or [])
        if (rel := _relationship(raw, facts, problems, f"meta.hubs.relationships[{i}]")) is not None
    )
    if relationships is not None:
        _one_relationship_per_foreign_key(rels, facts, problems)
    facts_tracked = tuple(meta.get("timeline", {}).get("facts") or ())
    _need_columns(problems, facts, "meta.hubs.timeline.facts", facts_tracked)
    temporal = facts.history in TEMPORAL_HISTORIES
    problems.need(
        bool(facts_tracked) == temporal,
        "meta.hubs.timeline.facts",
        f"history {facts.history!r}: "
        + ("declare the facts the timeline tracks" if temporal else "only scd2 and interval entities have a timeline"),
    )
    return HubMeta(
        label=label,
        relationships=rels,
        cache=tuple(
            _cache_entry(e, facts, problems, f"meta.hubs.cache[{i}]") for i, e in enumerate(meta.get("cache") or [])
        ),
        vectors=_vector_spec(meta.get("vectors"), facts, problems),
        facts=facts_tracked,
    )


def _need_columns(problems: MetaProblems, facts: ModelFacts, where: str, names: object) -> bool:
    names = [names] if isinstance(names, str) else list(names or [])
    unknown = [n for n in names if n not in facts.columns]
    return problems.need(not unknown, where, f"{', '.join(map(str, unknown))} is no column of {facts.model}")


def _relationship(raw: dict[str, Any], facts: ModelFacts, problems: MetaProblems, where: str) -> Relationship | None:
    where = f"{where} ({raw.get('type', '?')})"
    forms = [FORM_KEYS[k] for k in FORM_KEYS if k in raw]
    ok = problems.need(_TYPE.fullmatch(str(raw.get("type", ""))), where, "type must be UPPER_SNAKE_CASE")
    ok &= problems.need(len(forms) == 1, where, f"needs exactly one of {', '.join(FORM_KEYS)}")
    ok &= problems.need(raw.get("cardinality"), where, "cardinality is missing")
    ok &= problems.need(raw.get("direction", "out") in ("in", "out"), where, "direction must be in or out")
    ok &= problems.need(
        "link_to" not in raw or "link_from" in raw, where, "link_to needs link_from (the start of the link)"
    )
    ok &= problems.need(
        "link_from" not in raw or {"link_to", "key_columns"} & set(raw), where, "link_from needs link_to or key_columns"
    )
    ok &= _need_columns(problems, facts, f"{where}.properties", raw.get("properties"))
    if not ok:
        return None
    parent = _ParentOf(facts, problems, where)
    common: dict[str, Any] = {
        "type": raw["type"],
        "form": forms[0],
        "owner": facts.model,
        "cardinality": raw["cardinality"],
        "design": raw.get("design", ""),
        "direction": raw.get("direction", "out"),
        "properties": tuple(raw.get("properties") or ()),
    }
    own = facts.labels[facts.model]
    build: Callable[[], Relationship | None] = {
        "fk": lambda: _fk(raw, facts, parent, common, own),
        "edge": lambda: _between(raw["from_columns"], raw.get("to_columns"), parent, common, where, problems),
        "link": lambda: _between(raw["link_from"], raw["link_to"], parent, common, where, problems),
        "typed_key": lambda: _typed_key(raw, facts, parent, common, own, where, problems),
        "subject": lambda: _subject(raw, facts, common, own, where, problems),
        "array": lambda: _array(raw, facts, common, own, where, problems),
        "json": lambda: _json(raw, facts, common, own, where, problems),
    }[forms[0]]
    return build()


class _ParentOf:
    """The parent model of a list of foreign-key columns, or a problem naming them."""

    def __init__(self, facts: ModelFacts, problems: MetaProblems, where: str) -> None:
        self.facts, self.problems, self.where = facts, problems, where

    def __call__(self, columns: Any, key: str) -> str:
        model = self.facts.foreign_keys.get(tuple(columns or ()))
        self.problems.need(model, f"{self.where}.{key}", f"{columns} is no foreign key of {self.facts.model}")
        return model or ""


def _targets(raw: dict[str, Any], facts: ModelFacts, problems: MetaProblems, where: str) -> tuple[tuple[str, str], ...]:
    targets = tuple(sorted((str(v), m) for v, m in (raw.get("targets") or {}).items()))
    unknown = [m for _, m in targets if m not in facts.labels]
    problems.need(not unknown, f"{where}.targets", f"{', '.join(unknown)} is no hub model")
    return targets


def _target(raw: dict[str, Any], facts: ModelFacts, problems: MetaProblems, where: str) -> str:
    ok = problems.need(raw["target"] in facts.labels, f"{where}.target", f"{raw['target']} is no hub model")
    return raw["target"] if ok else ""


def _fk(
    raw: dict[str, Any], facts: ModelFacts, parent: _ParentOf, common: dict[str, Any], own: str
) -> Relationship | None:
    columns = tuple(raw["columns"] or ())
    model = parent(columns, "columns")
    if not model:
        return None
    ends = [(facts.model, own, facts.primary_key), (model, facts.labels[model], columns)]
    if common["direction"] == "in":  # drawn from the parent to this row (Customer TENDERS Load)
        ends.reverse()
    (start_model, start, start_columns), (end_model, end, end_columns) = ends
    return Relationship(
        start_label=start,
        end_labels=(end,),
        start_columns=start_columns,
        end_columns=end_columns,
        start_model=start_model,
        end_model=end_model,
        **common,
    )


def _between(
    start_columns: Any, end_columns: Any, parent: _ParentOf, common: dict[str, Any], where: str, problems: MetaProblems
) -> Relationship | None:
    """An edge (from/to columns) or a link (link_from/link_to) between two foreign keys' targets."""
    keys = ("from_columns", "to_columns") if common["form"] == "edge" else ("link_from", "link_to")
    start, end = parent(start_columns, keys[0]), parent(end_columns, keys[1])
    if not (start and end):
        return None
    labels = parent.facts.labels
    return Relationship(
        start_label=labels[start],
        end_labels=(labels[end],),
        start_columns=tuple(start_columns),
        end_columns=tuple(end_columns),
        start_model=start,
        end_model=end,
        **common,
    )


def _typed_key(
    raw: dict[str, Any],
    facts: ModelFacts,
    parent: _ParentOf,
    common: dict[str, Any],
    own: str,
    where: str,
    problems: MetaProblems,
) -> Relationship | None:
    key_columns = tuple(raw["key_columns"])
    ok = problems.need(len(key_columns) == 2, f"{where}.key_columns", "must be [type column, key column]")
    ok &= _need_columns(problems, facts, f"{where}.key_columns", key_columns)
    targets = _targets(raw, facts, problems, where)
    start_model, start, start_columns = facts.model, own, facts.primary_key
    if "link_from" in raw:  # drawn from a foreign key's target, not from the row
        start_model, start_columns = parent(raw["link_from"], "link_from"), tuple(raw["link_from"])
        start = facts.labels.get(start_model, "")
    if not (ok and start and problems.need(targets, f"{where}.targets", "a typed key needs its targets")):
        return None
    return Relationship(
        start_label=start,
        end_labels=tuple(sorted({facts.labels[m] for _, m in targets})),
        start_columns=start_columns,
        start_model=start_model,
        targets=targets,
        key_columns=key_columns,
        **common,
    )


def _subject(
    raw: dict[str, Any], facts: ModelFacts, common: dict[str, Any], own: str, where: str, problems: MetaProblems
) -> Relationship | None:
    if not _need_columns(problems, facts, f"{where}.subject_column", raw["subject_column"]):
        return None
    return Relationship(start_label=own, end_labels=(), start_model=facts.model, column=raw["subject_column"], **common)


def _array(
    raw: dict[str, Any], facts: ModelFacts, common: dict[str, Any], own: str, where: str, problems: MetaProblems
) -> Relationship | None:
    ok = _need_columns(problems, facts, f"{where}.array_column", raw["array_column"])
    ok &= problems.need("target" in raw, where, "an array needs its target model")
    target = _target(raw, facts, problems, where) if "target" in raw else ""
    if not (ok and target):
        return None
    return Relationship(
        start_label=own,
        end_labels=(facts.labels[target],),
        start_model=facts.model,
        end_model=target,
        column=raw["array_column"],
        **common,
    )


def _json(
    raw: dict[str, Any], facts: ModelFacts, common: dict[str, Any], own: str, where: str, problems: MetaProblems
) -> Relationship | None:
    ok = _need_columns(problems, facts, f"{where}.json_column", raw["json_column"])
    targets = _targets(raw, facts, problems, where)
    target = _target(raw, facts, problems, where) if raw.get("target") else ""
    ok &= problems.need(not (targets and target), where, "give targets or target, not both")
    ok &= problems.need("path" not in raw or target, f"{where}.path", "a path needs its target model")
    if not ok or (raw.get("target") and not target):
        return None
    # Without targets or target the document names its rows itself ([{hub, table, key}]).
    end_models = [m for _, m in targets] + ([target] if target else [])
    return Relationship(
        start_label=own,
        end_labels=tuple(sorted({facts.labels[m] for m in end_models})),
        start_model=facts.model,
        end_model=target,
        targets=targets,
        column=raw["json_column"],
        path=raw.get("path", ""),
        target_column=raw.get("target_column", ""),
        **common,
    )


def _one_relationship_per_foreign_key(
    rels: tuple[Relationship, ...], facts: ModelFacts, problems: MetaProblems
) -> None:
    """Each foreign key is drawn once by the platform; the design may name one more on the same
    columns (FUELED beside FOR_UNIT), which then says so with `design`."""
    for columns, parent in facts.foreign_keys.items():
        on_them = [r for r in rels if r.foreign_key == columns]
        problems.need(
            on_them and sum(not r.design for r in on_them) <= 1,
            "meta.hubs.relationships",
            f"the foreign key ({', '.join(columns)}) -> {parent} needs one relationship "
            f"`columns: [{', '.join(columns)}]` (more only when the others name their `design`)",
        )


def _cache_entry(raw: dict[str, Any], facts: ModelFacts, problems: MetaProblems, where: str) -> CacheEntry:
    entry = CacheEntry(
        key=str(raw.get("key", "")),
        fields=tuple(raw.get("fields") or ()),
        ttl_seconds=int(raw.get("ttl_seconds") or 0),
        where=str(raw.get("where") or ""),
    )
    problems.need(entry.placeholders, f"{where}.key", f"{entry.key!r} names no column ({{column}})")
    _need_columns(problems, facts, f"{where}.key", entry.placeholders)
    _need_columns(problems, facts, f"{where}.fields", entry.fields)
    problems.need(
        1 <= entry.ttl_seconds <= MAX_CACHE_TTL_SECONDS,
        f"{where}.ttl_seconds",
        f"{entry.ttl_seconds} is not between 1 and {MAX_CACHE_TTL_SECONDS}",
    )
    return entry


def _vector_spec(raw: dict[str, Any] | None, facts: ModelFacts, problems: MetaProblems) -> VectorSpec | None:
    if not raw:
        return None
    spec = VectorSpec(
        collection=str(raw.get("collection", "")),
        text=tuple(raw.get("text") or ()),
        payload=tuple(raw.get("payload") or ()),
        time=str(raw.get("time") or ""),
    )
    problems.need(
        spec.collection in COLLECTIONS,
        "meta.hubs.vectors.collection",
        f"{spec.collection!r} is not one of {', '.join(COLLECTIONS)}",
    )
    problems.need(spec.text, "meta.hubs.vectors.text", "names no column to embed")
    _need_columns(problems, facts, "meta.hubs.vectors.text", spec.text)
    _need_columns(problems, facts, "meta.hubs.vectors.payload", spec.payload)
    problems.need(
        not spec.time or spec.time in spec.payload,
        "meta.hubs.vectors.time",
        f"{spec.time!r} is not one of the payload columns ({', '.join(spec.payload)})",
    )
    return spec


# -- navigations ------------------------------------------------------------------------------------
# meta.hubs.navigations of a model: named paths from its rows across the typed relationships, which
# Recall compiles to Cypher and to SQL (hubs/recall/navigate.py). A path crosses other models'
# relationships, so it is resolved once every model is typed (resolve_navigations).

#: forms both stores answer (PostgreSQL joins the columns naming both ends, or an array's elements)
NAVIGABLE_FORMS = (*PAIR_FORMS, "array")
CALLER = "$at"  # valid_at: the caller's time (default now)
MAX_STEPS = 4
MAX_ROUTES = 8
_NAVIGATION_NAME = re.compile(r"[a-z][a-z0-9_]*")
_TIME_TYPES = ("timestamptz", "timestamp with time zone")
_NOT_IN_THE_GRAPH = ("created_at", "updated_at", "_landing_seq", "_row_hash")


@dataclass(frozen=True)
class Leg:
    """One relationship crossed from its near end: its start (outgoing) or its end."""

    relationship: Relationship
    outgoing: bool
    near_model: str
    far_model: str
    far_label: str
    #: the far model is an interval entity: its rows hold when they were valid
    far_interval: bool

    @property
    def edge_interval(self) -> bool:
        """The relationship carries its own interval (DROVE, OWNS)."""
        return "valid_from" in self.relationship.properties


@dataclass(frozen=True)
class TimeRef:
    """A time a navigation compares with: the caller's, or a column of a node on the path."""

    step: int = -1  # -1: the caller's time; 0: the start; n: the node step n reaches
    column: str = ""

    @property
    def given(self) -> bool:
        return self.step < 0


@dataclass(frozen=True)
class Navigation:
    """A named path from a model's rows: a step per relationship type (or a few alternatives),
    resolved to every way (route) it can be walked, with the times it is filtered by."""

    name: str
    description: str
    start_model: str
    start_label: str
    steps: tuple[tuple[str, ...], ...]  # relationship types of each step
    #: every way along the path, one leg per step (a step with several types or ends gives several)
    routes: tuple[tuple[Leg, ...], ...]
    #: intervals on the path (edges that carry one, nodes of interval entities) valid at this time
    valid_at: TimeRef | None = None
    #: the last node's column falls on the caller's day (an ISO date; default today)
    on_day: str = ""

    def models_at(self, step: int) -> list[str]:
        """The models a step of the path reaches (0: the start)."""
        return sorted({route[step - 1].far_model for route in self.routes}) if step else [self.start_model]

    def time_rule(self, table_of: Callable[[str], str]) -> str:
        """How times filter the paths, in words (`table_of`: a model's table name); "" when they do not."""
        rule = []
        if self.valid_at is not None:
            ref = self.valid_at
            where = (
                "`at`" if ref.given else " | ".join(f"`{table_of(m)}.{ref.column}`" for m in self.models_at(ref.step))
            )
            rule.append(f"intervals on the path valid at {where}")
        if self.on_day:
            rule.append(f"`{self.on_day}` of the last node on the day `at` names")
        return "; ".join(rule)

    @property
    def time_parameter(self) -> str:
        """What the caller's `at` is: "time" (default now), "day" (default today) or "" (none taken)."""
        if self.on_day:
            return "day"
        return "time" if self.valid_at is not None and self.valid_at.given else ""


class _Model:
    """What resolving a path needs of a typed entity (hubs.catalog.Entity has these)."""

    model: str
    label: str
    history: str
    columns: tuple[Any, ...]
    relationships: tuple[Relationship, ...]


def _ends(rel: Relationship) -> tuple[str, str]:
    return rel.start_model, rel.end_model


def _legs_from(
    model: str, step: dict[str, Any], models: Mapping[str, _Model], where: str, problems: MetaProblems
) -> list[Leg]:
    """Every relationship of the step's types that leaves `model` in the step's direction."""
    types = step.get("type") if isinstance(step.get("type"), list) else [str(step.get("type"))]
    direction = step.get("direction", "both")
    if not problems.need(direction in ("both", "out", "in"), f"{where}.direction", "must be both, out or in"):
        return []
    declared = [r for m in models.values() for r in m.relationships if r.type in types]
    unknown = sorted(set(types) - {r.type for r in declared})
    if not problems.need(not unknown, where, f"unknown relationship {', '.join(unknown)}"):
        return []
    by_label = {m.label: m.model for m in models.values()}
    target = step.get("to", "")
    if not problems.need(not target or target in by_label, f"{where}.to", f"{target!r} is no label"):
        return []
    legs = []
    for rel in declared:
        touches = rel.start_model == model or not rel.end_labels or models[model].label in rel.end_labels
        if rel.form not in NAVIGABLE_FORMS and touches:
            problems.need(
                False,
                where,
                f"{rel.type} ({rel.form}, on {rel.owner}) is no relationship PostgreSQL can follow "
                f"(forms {', '.join(NAVIGABLE_FORMS)})",
            )
            return []
        for outgoing in (True, False):
            near, far = _ends(rel) if outgoing else _ends(rel)[::-1]
            if near != model or direction == ("in" if outgoing else "out") or rel.form not in NAVIGABLE_FORMS:
                continue
            if target and models[far].label != target:
                continue
            far_model = models[far]
            legs.append(Leg(rel, outgoing, near, far, far_model.label, far_model.history == "interval"))
    problems.need(
        legs,
        where,
        f"the path does not connect: no {'|'.join(types)} relationship "
        f"{'to ' + target + ' ' if target else ''}touches {models[model].label} here",
    )
    return legs


def _time_column(model: _Model, column: str, where: str, problems: MetaProblems) -> bool:
    types = {c.name: c.data_type for c in model.columns}
    if not problems.need(column in types, where, f"{column} is no column of {model.model}"):
        return False
    return problems.need(
        types[column] in _TIME_TYPES and column not in _NOT_IN_THE_GRAPH,
        where,
        f"{model.model}.{column} is no time both stores hold (a timestamptz column other than created_at/updated_at)",
    )


def _valid_at(raw: Any, steps: list[set[str]], models: Mapping[str, _Model], where: str, problems: MetaProblems):
    """valid_at: `$at` (the caller's time), a column of the start, or {step, column}."""
    if raw == CALLER:
        return TimeRef()
    spec = raw if isinstance(raw, dict) else {"step": 0, "column": raw}
    step, column = spec.get("step", 0), str(spec.get("column", ""))
    if not problems.need(isinstance(step, int) and 0 <= step < len(steps), where, f"step {step!r} is not on the path"):
        return None
    ok = all(_time_column(models[m], column, where, problems) for m in sorted(steps[step]))
    return TimeRef(step, column) if ok else None


def read_navigation(raw: Any, model: _Model, models: Mapping[str, _Model], where: str, problems: MetaProblems):
    """One entry of meta.hubs.navigations, resolved over the typed catalog (None when wrong)."""
    if not problems.need(isinstance(raw, dict), where, "must be a mapping (name, description, path)"):
        return None
    name, before = str(raw.get("name", "")), len(problems)
    where = f"{where} ({name or '?'})"
    ok = problems.need(_NAVIGATION_NAME.fullmatch(name), where, "name must be snake_case")
    ok &= problems.need(str(raw.get("description", "")).strip(), f"{where}.description", "is missing")
    path = raw.get("path")
    ok &= problems.need(
        isinstance(path, list) and 1 <= len(path) <= MAX_STEPS, f"{where}.path", f"must list 1 to {MAX_STEPS} steps"
    )
    unknown_keys = sorted(set(raw) - {"name", "description", "path", "valid_at", "on_day"})
    ok &= problems.need(not unknown_keys, where, f"unknown key(s) {', '.join(unknown_keys)}")
    if not ok:
        return None
    routes: list[tuple[Leg, ...]] = [()]
    reached = [{model.model}]  # the models each step may reach
    steps = []
    for i, step in enumerate(path):
        step = step if isinstance(step, dict) else {"type": step}
        steps.append(tuple(step["type"]) if isinstance(step.get("type"), list) else (str(step.get("type")),))
        found = {}
        for route in routes:
            here = route[-1].far_model if route else model.model
            if here not in found:
                found[here] = _legs_from(here, step, models, f"{where}.path[{i}]", problems)
        routes = [(*route, leg) for route in routes for leg in found[route[-1].far_model if route else model.model]]
        if not routes:
            return None
        reached.append({r[-1].far_model for r in routes})
    if not problems.need(
        len(routes) <= MAX_ROUTES, f"{where}.path", f"{len(routes)} ways along it, at most {MAX_ROUTES}"
    ):
        return None
    valid_at = _valid_at(raw["valid_at"], reached, models, f"{where}.valid_at", problems) if "valid_at" in raw else None
    if valid_at is not None:
        problems.need(
            any(leg.edge_interval or leg.far_interval for route in routes for leg in route),
            f"{where}.valid_at",
            "nothing on the path has an interval (an edge with valid_from, a node of an interval entity)",
        )
    on_day = str(raw.get("on_day", ""))
    if on_day:
        problems.need(
            valid_at is None or not valid_at.given, f"{where}.on_day", f"the caller's time is the day: not {CALLER} too"
        )
        for last in sorted(reached[-1]):
            _time_column(models[last], on_day, f"{where}.on_day", problems)
    if ("valid_at" in raw and valid_at is None) or len(problems) > before:
        return None
    return Navigation(
        name=name,
        description=str(raw["description"]).strip(),
        start_model=model.model,
        start_label=model.label,
        steps=tuple(steps),
        routes=tuple(routes),
        valid_at=valid_at,
        on_day=on_day,
    )
