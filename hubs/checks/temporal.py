"""T1-T5: the same temporal questions asked of the history tables, the graph replica and Graphiti.

Each check picks a fixed set of questions from PostgreSQL (`QUESTIONS` per check, from keys
spread over the sorted keys: an instant inside a version, exactly at a valid_from where the
answer changes, one second before the key's first version, and now), answers each from the
three sources and reports every question on which the graph or Graphiti answers differently
from PostgreSQL. Every as-of condition is in the query itself: SQL on the history tables;
Cypher on the replica's VERSION self-edges and projected edges (DROVE, OWNS), whose bounds are
ISO-8601 UTC text; Cypher on Graphiti's RELATES_TO edges, through `TimelineStore.as_of`, which
knows how each graph server keeps valid_at / invalid_at. A version holds from valid_from
(inclusive) to valid_to (exclusive, open while NULL).

Cost per check: one SQL query and one Cypher query per source for all its questions (T5: two).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import zip_longest
from typing import Any

from psycopg2 import sql

from hubs.catalog import Catalog, Entity
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.sync.feed import history_table, hub_table
from hubs.sync.graph.edges import VERSION
from hubs.sync.records import normalize
from hubs.sync.timeline import TimelineStore, node_uuid, state_name

QUESTIONS = 25
KEYS = 6  # keys a check asks about; each gets the four kinds of instant before any key gets more
T1_UNIT = "6520"  # the design's own question: "Who was driving unit 6520 on Oct 15?"

Answer = tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Question:
    key: str  # what the question is about: a unit, a goal, a legal entity, a load
    at: str  # the instant, ISO-8601 UTC
    kind: str  # why it was picked


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    kind: str

    @property
    def start_at(self) -> str:
        return normalize(datetime.combine(self.first, time(), UTC))

    @property
    def end_at(self) -> str:
        return normalize(datetime.combine(self.last, time(23, 59, 59), UTC))


@dataclass(frozen=True)
class AsOf:
    """'What held for <key> at <instant>' over one versioned entity.

    A state question (SCD-2 entity) is about the entity's own key: its VERSION self-edges in the
    graph, its <ENTITY>_STATE edges in Graphiti. A projection question (an interval row drawn as
    an edge, DROVE) is about the edge's target: the answer starts with the source's key."""

    entity: Entity
    facts: tuple[str, ...]  # columns answered: edge properties in the graph, fact_<name> in Graphiti
    subject: str  # column holding the key a question names
    other: str | None  # projection: column holding the source's key
    edge_type: str  # graph relationship type (VERSION or the projected type)
    label: str  # node label of the subject
    other_label: str | None
    timeline_name: str  # name of the Graphiti edges

    @classmethod
    def of(cls, catalog: Catalog, model: str, facts: tuple[str, ...]) -> AsOf:
        entity = catalog.by_model(model)
        projection = entity.projection
        if projection is None:
            (subject,) = entity.primary_key
            label = entity.label
            return cls(entity, facts, subject, None, VERSION, label, None, state_name(entity))
        (other,), (subject,) = projection.start_columns, projection.end_columns
        [subject_label] = projection.end_labels
        return cls(
            entity, facts, subject, other, projection.type, subject_label, projection.start_label, projection.type
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return ((self.other,) if self.other else ()) + self.facts


# -- answers ---------------------------------------------------------------------------------------


def _canon(value: Any) -> Any:
    value = normalize(value)
    if hasattr(value, "to_native"):  # a Neo4j temporal value
        value = normalize(value.to_native())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value), 6)
    return value


def _answers(rows: list[Any], count: int) -> list[Answer]:
    """Rows of (question number (1-based), value, ...) -> one sorted answer per question."""
    grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for i, *values in rows:
        grouped[int(i)].append(tuple(_canon(v) for v in values))
    return [tuple(sorted(grouped.get(i + 1, []), key=repr)) for i in range(count)]


def _graph_as_of(edge: str, instant: str) -> str:
    # The replica's bounds are ISO text on both servers (UTC: text order is time order).
    return f"{edge}.valid_from <= {instant} AND ({edge}.valid_to IS NULL OR {edge}.valid_to > {instant})"


def postgres_as_of(ctx: CheckContext, spec: AsOf, questions: list[Question]) -> list[Answer]:
    entity = spec.entity
    table = history_table(entity) if entity.history == "scd2" else hub_table(entity)
    query = sql.SQL(
        "select q.i, {columns} from unnest(%s::{type}[], %s::timestamptz[]) with ordinality as q (subject, at, i)"
        " join {table} as t on t.{subject} = q.subject"
        " and t.valid_from <= q.at and (t.valid_to is null or t.valid_to > q.at)"
    ).format(
        columns=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in spec.columns),
        type=sql.SQL(entity.column(spec.subject).data_type),
        table=table,
        subject=sql.Identifier(spec.subject),
    )
    rows = ctx.sql(query.as_string(ctx.conn), ([q.key for q in questions], [q.at for q in questions]))
    return _answers(rows, len(questions))


def graph_as_of(ctx: CheckContext, spec: AsOf, questions: list[Question]) -> list[Answer]:
    facts = "".join(f", r.{f}" for f in spec.facts)
    if spec.other_label is None:
        match = f"MATCH (n:{spec.label} {{key: q.key}})-[r:{spec.edge_type}]->(n)"
        returned = f"q.i{facts}"
    else:
        match = f"MATCH (o:{spec.other_label})-[r:{spec.edge_type}]->(n:{spec.label} {{key: q.key}})"
        returned = f"q.i, o.key{facts}"
    rows = ctx.graph.run(
        f"UNWIND $questions AS q {match} WHERE {_graph_as_of('r', 'q.at')} RETURN {returned}",
        {"questions": [{"i": i + 1, "key": q.key, "at": q.at} for i, q in enumerate(questions)]},
    )
    return _answers(rows, len(questions))


def graphiti_as_of(ctx: CheckContext, spec: AsOf, questions: list[Question]) -> list[Answer]:
    store: TimelineStore = ctx.store("timeline")
    facts = "".join(f", e.fact_{f} AS {f}" for f in spec.facts)
    other = ", o.entity_key AS other" if spec.other else ""
    rows = store.query(
        "UNWIND $questions AS q MATCH (o:Entity)-[e:RELATES_TO]->(n:Entity {uuid: q.node}) "
        f"WHERE e.group_id = $group AND e.name = $name AND {store.as_of('e', 'q.at')} "
        f"RETURN q.i AS i{other}{facts}",
        questions=[
            {"i": i + 1, "node": node_uuid(spec.label, q.key, store.scope), "at": q.at} for i, q in enumerate(questions)
        ],
        group=store.group,
        name=spec.timeline_name,
    )
    names = (("other",) if spec.other else ()) + spec.facts
    return _answers([[r["i"], *(r[n] for n in names)] for r in rows], len(questions))


# -- questions -------------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return normalize(value)


def _spread(keys: list[str], n: int) -> list[str]:
    """n of the sorted keys, evenly spaced (always the same ones for the same data)."""
    keys = sorted(keys)
    if len(keys) <= n:
        return keys
    return [keys[round(i * (len(keys) - 1) / (n - 1))] for i in range(n)]


def _inside(start: datetime, end: datetime | None, horizon: datetime) -> datetime:
    # An open version ends at the data's horizon, not at now(): the check and a test that asks
    # the same questions a second later must get the same instants.
    end = end or max(horizon, start + timedelta(days=2))
    middle = start + (end - start) / 2
    whole = middle.replace(microsecond=0)
    return whole if start < whole < end else middle


def now(ctx: CheckContext) -> datetime:
    return ctx.sql("select date_trunc('second', now())")[0][0]


def versions(ctx: CheckContext, spec: AsOf) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """The spans PostgreSQL has per key of the questions (a unit's assignments, a goal's versions)."""
    entity = spec.entity
    table = history_table(entity) if entity.history == "scd2" else hub_table(entity)
    query = sql.SQL("select {subject}, valid_from, valid_to from {table} order by 1, 2").format(
        subject=sql.Identifier(spec.subject), table=table
    )
    spans: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for subject, valid_from, valid_to in ctx.sql(query.as_string(ctx.conn)):
        spans[str(normalize(subject))].append((valid_from, valid_to))
    return spans


def instant_questions(
    spans: dict[str, list[tuple[datetime, datetime | None]]], at_now: datetime, first: list[Question] | None = None
) -> list[Question]:
    """`first`, then for each of KEYS spread keys an instant inside a version, at a valid_from,
    just before its first version and now (one kind for every key before the next kind), then
    more instants inside and at the start of the keys' versions, up to QUESTIONS."""
    chosen: list[list[Question]] = []
    more: list[list[Question]] = []
    horizon = max((end or start for spanned in spans.values() for start, end in spanned), default=at_now)
    for key in _spread(list(spans), KEYS):
        spanned = sorted(spans[key], key=lambda s: s[0])
        starts = [start for start, _ in spanned]
        boundary = starts[1:][len(starts[1:]) // 2] if len(starts) > 1 else starts[0]
        middle = spanned[len(spanned) // 2]
        chosen.append(
            [
                Question(key, _iso(_inside(*middle, horizon)), "inside a version"),
                Question(key, _iso(boundary), "at a valid_from"),
                Question(key, _iso(starts[0] - timedelta(seconds=1)), "just before the first version"),
                Question(key, _iso(at_now), "now"),
            ]
        )
        more.append(
            [Question(key, _iso(_inside(s, e, horizon)), "inside a version") for s, e in spanned]
            + [Question(key, _iso(s), "at a valid_from") for s in starts]
        )
    ordered = list(first or [])
    for group in (chosen, more):
        ordered += [q for round_ in zip_longest(*group) for q in round_ if q is not None]
    picked: dict[tuple[str, str], Question] = {}
    for question in ordered:
        picked.setdefault((question.key, question.at), question)
    return list(picked.values())[:QUESTIONS]


# -- comparing -------------------------------------------------------------------------------------


def _shown(answer: Any) -> str:
    if isinstance(answer, tuple) and all(isinstance(row, tuple) for row in answer):
        return "[" + "; ".join(", ".join(map(str, row)) for row in answer) + "]"
    return str(answer)


def _differences(subject: str, asked: list[str], pg: list[Any], graph: list[Any], graphiti: list[Any]) -> list[str]:
    problems = []
    for question, p, g, t in zip(asked, pg, graph, graphiti, strict=True):
        if g != p or t != p:
            problems.append(f"{subject} {question}: postgres={_shown(p)} graph={_shown(g)} graphiti={_shown(t)}")
    return problems


def _as_of_check(ctx: CheckContext, name: str, subject: str, spec: AsOf, questions: list[Question]) -> CheckOutcome:
    pg = postgres_as_of(ctx, spec, questions)
    graph = graph_as_of(ctx, spec, questions)
    graphiti = graphiti_as_of(ctx, spec, questions)
    asked = [f"{q.key} at {q.at} ({q.kind})" for q in questions]
    problems = _differences(subject, asked, pg, graph, graphiti)
    table = spec.entity.qualified_name + ("_history" if spec.entity.history == "scd2" else "")
    answered = sum(bool(a) for a in pg)
    # Without a version in PostgreSQL there is no key to ask about (T1's unit 6520 may still be
    # asked, and answered by nobody): empty answers agree trivially, so nothing was compared.
    unasked = [] if answered else [f"{table} has no version: no {subject} whose history could be compared"]
    return CheckOutcome.from_problems(
        name,
        problems,
        f"{len(questions)} questions asked of the history tables, the graph and Graphiti",
        unasked,
        asked=answered,
        questions=len(questions),
        answered=answered,
        graph_differs=sum(g != p for g, p in zip(graph, pg, strict=True)),
        graphiti_differs=sum(t != p for t, p in zip(graphiti, pg, strict=True)),
    )


# -- T1-T4 -----------------------------------------------------------------------------------------


def driver_spec(catalog: Catalog) -> AsOf:
    return AsOf.of(catalog, "driver_assignments", ("seat",))


def goal_spec(catalog: Catalog) -> AsOf:
    return AsOf.of(catalog, "goals", ("current",))


def ownership_spec(catalog: Catalog) -> AsOf:
    return AsOf.of(catalog, "ownership_stakes", ("ownership_pct",))


def load_spec(catalog: Catalog) -> AsOf:
    return AsOf.of(catalog, "loads", ("status",))


def driver_questions(ctx: CheckContext) -> list[Question]:
    """T1's questions: the design's unit 6520 at noon (UTC) on the last Oct 15, when the unit exists,
    then instants around every picked unit's assignments."""
    spec = driver_spec(ctx.catalog)
    at_now = now(ctx)
    tractors = ctx.catalog.by_model("tractors")
    first = []
    exists = sql.SQL("select 1 from {} where unit_number = %s").format(hub_table(tractors))
    if ctx.sql(exists.as_string(ctx.conn), (T1_UNIT,)):
        year = at_now.year if (at_now.month, at_now.day) >= (10, 15) else at_now.year - 1
        first.append(Question(T1_UNIT, _iso(datetime(year, 10, 15, 12, tzinfo=UTC)), "Oct 15"))
    return instant_questions(versions(ctx, spec), at_now, first)


def questions_of(ctx: CheckContext, spec: AsOf) -> list[Question]:
    return instant_questions(versions(ctx, spec), now(ctx))


@check("timeline", "T1_driver_assignment_history")
def driver_assignment_history(ctx: CheckContext) -> CheckOutcome:
    """Who was driving a unit at an instant: driver_assignments, graph DROVE edges and Graphiti agree."""
    spec = driver_spec(ctx.catalog)
    return _as_of_check(ctx, "T1_driver_assignment_history", "unit", spec, driver_questions(ctx))


@check("timeline", "T2_goal_progress")
def goal_progress(ctx: CheckContext) -> CheckOutcome:
    """A goal's current value as of a past instant: goals_history, graph VERSION edges and Graphiti agree."""
    spec = goal_spec(ctx.catalog)
    return _as_of_check(ctx, "T2_goal_progress", "goal", spec, questions_of(ctx, spec))


@check("timeline", "T3_ownership_changes")
def ownership_changes(ctx: CheckContext) -> CheckOutcome:
    """Who owned what percent of an entity at an instant: ownership_stakes, graph OWNS edges and Graphiti agree."""
    spec = ownership_spec(ctx.catalog)
    return _as_of_check(ctx, "T3_ownership_changes", "legal entity", spec, questions_of(ctx, spec))


@check("timeline", "T4_load_status_timeline")
def load_status_timeline(ctx: CheckContext) -> CheckOutcome:
    """A load's status at an instant: loads_history, graph VERSION edges and Graphiti agree."""
    spec = load_spec(ctx.catalog)
    return _as_of_check(ctx, "T4_load_status_timeline", "load", spec, questions_of(ctx, spec))


# -- T5 --------------------------------------------------------------------------------------------


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def project_periods(ctx: CheckContext) -> list[Period]:
    """T5's periods: the spans of projects spread over their keys (exact boundaries), the current
    quarter and the four before it, one before any project, and today."""
    projects = ctx.catalog.by_model("projects")
    query = sql.SQL(
        "select project_id::text, start_date, coalesce(completed_on, due_date) from {}"
        " where start_date is not null and coalesce(completed_on, due_date) is not null"
    ).format(hub_table(projects))
    spans = {key: (first, last) for key, first, last in ctx.sql(query.as_string(ctx.conn))}
    today = now(ctx).date()
    periods = [Period(*spans[key], f"project {key}'s span") for key in _spread(list(spans), KEYS)]
    quarter = _quarter_start(today)
    for _ in range(5):
        following = _quarter_start(quarter + timedelta(days=92))
        periods.append(Period(quarter, following - timedelta(days=1), "a quarter"))
        quarter = _quarter_start(quarter - timedelta(days=1))
    if spans:
        earliest = min(first for first, _ in spans.values())
        periods.append(Period(earliest - timedelta(days=90), earliest - timedelta(days=1), "before any project"))
    periods.append(Period(today, today, "today"))
    return periods


def _postgres_projects(ctx: CheckContext, periods: list[Period]) -> list[list[tuple[str, str | None]]]:
    projects = ctx.catalog.by_model("projects")
    query = sql.SQL(
        "select q.i, p.project_id, p.goal_id from unnest(%s::date[], %s::date[]) with ordinality as q (first, last, i)"
        " join {} as p on p.start_date <= q.last and coalesce(p.completed_on, p.due_date) >= q.first"
    ).format(hub_table(projects))
    rows = ctx.sql(query.as_string(ctx.conn), ([p.first for p in periods], [p.last for p in periods]))
    return [list(a) for a in _answers(rows, len(periods))]


def _graph_projects(ctx: CheckContext, periods: list[Period]) -> list[list[tuple[str, str | None]]]:
    projects, goals = ctx.catalog.by_model("projects"), ctx.catalog.by_model("goals")
    advances = next(r.type for r in projects.relationships if r.foreign_key == ("goal_id",))
    rows = ctx.graph.run(
        f"UNWIND $periods AS q MATCH (p:{projects.label}) "
        "WHERE p.start_date <= q.last AND coalesce(p.completed_on, p.due_date) >= q.first "
        f"OPTIONAL MATCH (p)-[:{advances}]->(g:{goals.label}) RETURN q.i, p.key, g.key",
        {
            "periods": [
                {"i": i + 1, "first": p.first.isoformat(), "last": p.last.isoformat()} for i, p in enumerate(periods)
            ]
        },
    )
    return [list(a) for a in _answers(rows, len(periods))]


def _progress(
    ctx: CheckContext, source: Any, periods: list[Period], linked: list[list[tuple[str, str | None]]]
) -> list[Answer]:
    """(project, goal, goal's current at the period's start, at its end) per period, the goal's
    values answered by `source` (one of the *_as_of functions)."""
    spec = goal_spec(ctx.catalog)
    asks = [
        Question(goal, at, "")
        for period, pairs in zip(periods, linked, strict=True)
        for _, goal in pairs
        if goal is not None
        for at in (period.start_at, period.end_at)
    ]
    values = iter(source(ctx, spec, asks) if asks else [])

    def current(answer: Answer) -> Any:
        return answer[0][0] if len(answer) == 1 else answer or None  # several versions at once stay visible

    answers = []
    for pairs in linked:
        rows = []
        for project, goal in pairs:
            start, end = (current(next(values)), current(next(values))) if goal is not None else (None, None)
            rows.append((project, goal, start, end))
        answers.append(tuple(sorted(rows, key=repr)))
    return answers


@check("timeline", "T5_project_impact")
def project_impact(ctx: CheckContext) -> CheckOutcome:
    """Projects active in a period, the goals they advance and those goals' progress agree in all three stores."""
    periods = project_periods(ctx)
    pg_projects = _postgres_projects(ctx, periods)
    graph_projects = _graph_projects(ctx, periods)
    pg = _progress(ctx, postgres_as_of, periods, pg_projects)
    graph = _progress(ctx, graph_as_of, periods, graph_projects)
    # Graphiti keeps no projects: its part is the progress of the goals PostgreSQL links them to.
    graphiti = _progress(ctx, graphiti_as_of, periods, pg_projects)
    asked = [f"{p.first}..{p.last} ({p.kind})" for p in periods]
    problems = _differences("period", asked, pg, graph, graphiti)
    answered = sum(bool(a) for a in pg)
    # Periods are asked even without projects, but then no goal's progress is compared: the
    # check's question (which projects, and how far their goals came) went unasked.
    unasked = (
        []
        if answered
        else ["PostgreSQL has no project active in any period asked (none with a start and a due or completion date)"]
    )
    return CheckOutcome.from_problems(
        "T5_project_impact",
        problems,
        f"{len(periods)} periods asked of the history tables, the graph and Graphiti",
        unasked,
        asked=answered,
        questions=len(periods),
        answered=answered,
        graph_differs=sum(g != p for g, p in zip(graph, pg, strict=True)),
        graphiti_differs=sum(t != p for t, p in zip(graphiti, pg, strict=True)),
    )
