"""T1-T5: one set of questions, the same answers from the history tables, the graph replica and
Graphiti, on FalkorDB and on Neo4j. The entities the checks read are synced once per graph server
for the module (a full rebuild takes a minute on Neo4j); each breaking test alters one answer in
one store, expects the check to fail naming the question's key, and puts the store back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from graphiti_core.driver.driver import GraphProvider

from hubs.checks import temporal
from hubs.checks.temporal import AsOf, Question
from hubs.sync.graph.edges import VERSION
from hubs.sync.records import normalize
from hubs.sync.timeline import GROUP, TimelineStore, node_uuid
from tests.conftest import StoreBench, module_bench
from tests.test_store_checks import resync, set_edge_time

T_CHECKS = [
    "T1_driver_assignment_history",
    "T2_goal_progress",
    "T3_ownership_changes",
    "T4_load_status_timeline",
    "T5_project_impact",
]
# What T1-T5 read (with the ends of DROVE and OWNS): syncing only these keeps the module's setup
# on Neo4j to a third of a full rebuild.
GRAPH_ENTITIES = [
    "drivers",
    "tractors",
    "driver_assignments",
    "parties",
    "legal_entities",
    "ownership_stakes",
    "goals",
    "projects",
    "loads",
]
TIMELINE_ENTITIES = ["driver_assignments", "ownership_stakes", "goals", "loads"]


@pytest.fixture(scope="module", params=["falkordb", "neo4j"])
def synced(
    request: pytest.FixtureRequest, postgres_server: str, stores_template: str, hubs_home: Path
) -> Iterator[StoreBench]:
    """A private copy of the small dataset with its graph replica and timeline, per graph server."""
    with module_bench(request, postgres_server, "tq") as bench:
        bench.holding_only("graph", GRAPH_ENTITIES)
        bench.holding_only("timeline", TIMELINE_ENTITIES)
        yield bench


def answered(bench: StoreBench, spec: AsOf, questions: list[Question]) -> list[tuple[Question, Any]]:
    """The questions PostgreSQL answers with exactly one row (one version, one driver), with it."""
    answers = temporal.postgres_as_of(bench.context(), spec, questions)
    return [(q, a) for q, a in zip(questions, answers, strict=True) if len(a) == 1]


def timeline_edge(store: TimelineStore, spec: AsOf, question: Question) -> dict[str, Any]:
    """The Graphiti edge that answers a question (one version held at the instant)."""
    (edge,) = store.query(
        "MATCH ()-[e:RELATES_TO]->(n:Entity {uuid: $node}) "
        f"WHERE e.group_id = $group AND e.name = $name AND {store.as_of('e', '$at')} "
        "RETURN e.uuid AS uuid, e.valid_at AS valid_at, e.invalid_at AS invalid_at",
        node=node_uuid(spec.label, question.key),
        group=GROUP,
        name=spec.timeline_name,
        at=question.at,
    )
    return edge


def answers(outcome: Any, asked: str) -> tuple[str, str, str]:
    """The three answers a check reports for a question (found by the start of its problem)."""
    problem = next(p for p in outcome.offending if p.startswith(asked))
    postgres, rest = problem.split(" postgres=", 1)[1].split(" graph=", 1)
    graph, graphiti = rest.split(" graphiti=", 1)
    return postgres, graph, graphiti


def shown(answer: Any) -> str:
    return "[" + "; ".join(", ".join(map(str, row)) for row in answer) + "]"


def iso(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "to_native"):
        value = value.to_native()
    return normalize(value) if isinstance(value, datetime) else str(value)


def test_questions_inside_an_open_version_do_not_move_with_the_clock() -> None:
    start = datetime(2023, 6, 1, tzinfo=UTC)
    spans: dict[str, list[tuple[datetime, datetime | None]]] = {
        "A": [(start, start + timedelta(days=9)), (start + timedelta(days=9), None)],
        "B": [(start + timedelta(days=3), None)],
    }
    at_now = datetime(2026, 11, 30, 6, 0, 1, tzinfo=UTC)
    earlier, later = (temporal.instant_questions(spans, at) for at in (at_now, at_now + timedelta(seconds=7)))
    assert [q for q in earlier if q.kind != "now"] == [q for q in later if q.kind != "now"]
    inside = {q.at for q in earlier if q.kind == "inside a version" and q.key == "A"}
    # The data ends where A's open version starts, so it is asked about one day in (of the two it is given).
    assert normalize(start + timedelta(days=10)) in inside


@pytest.mark.parametrize("name", T_CHECKS)
def test_temporal_checks_pass_on_freshly_synced_stores(synced: StoreBench, name: str) -> None:
    outcome = synced.run_check(name)
    assert outcome.passed, outcome.offending
    assert outcome.counts["questions"] >= 10
    # most questions have an answer: an empty answer everywhere would agree too easily
    assert outcome.counts["answered"] >= outcome.counts["questions"] // 2


def test_t1_asks_the_designs_question_first(synced: StoreBench) -> None:
    """ "Who was driving unit 6520 on Oct 15?" (noon UTC of the last Oct 15) leads T1's questions,
    followed by the four kinds of instant for each unit."""
    assert synced.sql("select 1 from hub3_origin.tractors where unit_number = '6520'")
    questions = temporal.driver_questions(synced.context())
    first = questions[0]
    assert (first.key, first.at[5:]) == ("6520", "10-15T12:00:00+00:00")
    assert datetime.fromisoformat(first.at) <= datetime.now(UTC)
    assert len(questions) == temporal.QUESTIONS == len({(q.key, q.at) for q in questions})
    kinds = {q.kind for q in questions}
    assert {"inside a version", "at a valid_from", "just before the first version", "now"} <= kinds
    # every "at a valid_from" instant is one where an assignment of that unit starts
    starts = {
        (u, normalize(v)) for u, v in synced.sql("select unit_number, valid_from from hub3_origin.driver_assignments")
    }
    assert all((q.key, q.at) in starts for q in questions if q.kind == "at a valid_from")


def test_graphiti_as_of_agrees_with_postgres(synced: StoreBench) -> None:
    """TimelineStore.as_of finds exactly the versions held at an instant, on either server (on
    FalkorDB, where prepare keeps the RANGE index Graphiti makes on valid_at away)."""
    store: TimelineStore = synced.store("timeline")
    instants = [row[0] for row in synced.sql("select valid_from from hub2_openhaul.loads_history order by 1")][::97]
    instants += [i + timedelta(seconds=1) for i in instants] + [datetime(2000, 1, 1, tzinfo=UTC)]
    for at in instants:
        expected = synced.sql(
            "select count(*) from hub2_openhaul.loads_history"
            " where valid_from <= %s and (valid_to is null or valid_to > %s)",
            (at, at),
        )[0][0]
        (found,) = store.query(
            "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group AND e.entity = 'loads' "
            f"AND {store.as_of('e', '$at')} RETURN count(e) AS n",
            group=GROUP,
            at=normalize(at),
        )
        assert found["n"] == expected, at


def test_t1_names_the_unit_when_a_graph_drove_edge_starts_late(synced: StoreBench) -> None:
    spec = temporal.driver_spec(synced.catalog)
    question, answer = answered(synced, spec, temporal.driver_questions(synced.context()))[0]
    graph = synced.store("graph").dialect
    (owner, valid_from) = graph.run(
        "MATCH (:Driver {key: $driver})-[r:DROVE]->(:Tractor {key: $unit}) "
        "WHERE r.valid_from <= $at AND (r.valid_to IS NULL OR r.valid_to > $at) RETURN r._owner, r.valid_from",
        {"driver": answer[0][0], "unit": question.key, "at": question.at},
    )[0]
    later = normalize(datetime.fromisoformat(question.at) + timedelta(hours=1))
    graph.run("MATCH ()-[r:DROVE {_owner: $owner}]->() SET r.valid_from = $later", {"owner": owner, "later": later})
    try:
        outcome = synced.run_check("T1_driver_assignment_history")
        assert not outcome.passed
        asked = f"unit {question.key} at {question.at} ({question.kind})"
        assert answers(outcome, asked) == (shown(answer), "[]", shown(answer))
    finally:
        graph.run(
            "MATCH ()-[r:DROVE {_owner: $owner}]->() SET r.valid_from = $old", {"owner": owner, "old": valid_from}
        )
    assert synced.run_check("T1_driver_assignment_history").passed


def test_t1_names_the_unit_when_a_graphiti_drove_edge_ends_early(synced: StoreBench) -> None:
    spec = temporal.driver_spec(synced.catalog)
    store: TimelineStore = synced.store("timeline")
    question, answer = answered(synced, spec, temporal.driver_questions(synced.context()))[-1]
    edge = timeline_edge(store, spec, question)
    assert edge["valid_at"] is not None and answer
    earlier = normalize(datetime.fromisoformat(question.at) - timedelta(seconds=1))
    set_edge_time(store, edge["uuid"], "valid_at", normalize(datetime.fromisoformat(question.at) - timedelta(days=1)))
    set_edge_time(store, edge["uuid"], "invalid_at", earlier)
    try:
        outcome = synced.run_check("T1_driver_assignment_history")
        assert not outcome.passed
        asked = f"unit {question.key} at {question.at} ({question.kind})"
        assert answers(outcome, asked) == (shown(answer), shown(answer), "[]")
    finally:
        set_edge_time(store, edge["uuid"], "valid_at", iso(edge["valid_at"]))
        set_edge_time(store, edge["uuid"], "invalid_at", iso(edge["invalid_at"]))
    assert synced.run_check("T1_driver_assignment_history").passed


def test_t2_names_the_goal_when_a_graphiti_fact_is_altered(synced: StoreBench) -> None:
    spec = temporal.goal_spec(synced.catalog)
    store: TimelineStore = synced.store("timeline")
    question, answer = answered(synced, spec, temporal.questions_of(synced.context(), spec))[0]
    edge = timeline_edge(store, spec, question)
    store.query("MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() SET e.fact_current = -1.0", uuid=edge["uuid"])
    try:
        outcome = synced.run_check("T2_goal_progress")
        assert not outcome.passed
        assert answers(outcome, f"goal {question.key} at {question.at}") == (shown(answer), shown(answer), "[-1.0]")
    finally:
        resync(synced, "timeline", "goals")
    assert synced.run_check("T2_goal_progress").passed


def test_t3_names_the_entity_when_a_graph_ownership_is_altered(synced: StoreBench) -> None:
    spec = temporal.ownership_spec(synced.catalog)
    question, answer = answered(synced, spec, temporal.questions_of(synced.context(), spec))[0]
    owner, percent = answer[0]
    graph = synced.store("graph").dialect
    found = graph.run(
        "MATCH (:Party {key: $owner})-[r:OWNS]->(:LegalEntity {key: $entity}) "
        "WHERE r.valid_from <= $at AND (r.valid_to IS NULL OR r.valid_to > $at) RETURN r._owner",
        {"owner": owner, "entity": question.key, "at": question.at},
    )
    (stake,) = found[0]
    graph.run("MATCH ()-[r:OWNS {_owner: $stake}]->() SET r.ownership_pct = 12.5", {"stake": stake})
    try:
        outcome = synced.run_check("T3_ownership_changes")
        assert not outcome.passed
        postgres, graph_answer, graphiti = answers(outcome, f"legal entity {question.key} at {question.at}")
        assert postgres == graphiti == shown(answer)
        assert f"{owner}, 12.5" in graph_answer
    finally:
        graph.run("MATCH ()-[r:OWNS {_owner: $stake}]->() SET r.ownership_pct = $pct", {"stake": stake, "pct": percent})
    assert synced.run_check("T3_ownership_changes").passed


def test_t4_names_the_load_when_graphiti_lost_a_state_edge(synced: StoreBench) -> None:
    spec = temporal.load_spec(synced.catalog)
    store: TimelineStore = synced.store("timeline")
    question, answer = answered(synced, spec, temporal.questions_of(synced.context(), spec))[0]
    store.query("MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() DELETE e", uuid=timeline_edge(store, spec, question)["uuid"])
    try:
        outcome = synced.run_check("T4_load_status_timeline")
        assert not outcome.passed
        asked = f"load {question.key} at {question.at} ({question.kind})"
        assert answers(outcome, asked) == (shown(answer), shown(answer), "[]")
    finally:
        resync(synced, "timeline", "loads")
    assert synced.run_check("T4_load_status_timeline").passed


def test_t4_names_the_load_when_a_graph_version_is_altered(synced: StoreBench) -> None:
    spec = temporal.load_spec(synced.catalog)
    question, answer = answered(synced, spec, temporal.questions_of(synced.context(), spec))[-1]
    graph = synced.store("graph").dialect
    version = (
        f"MATCH (n:Load {{key: $key}})-[r:{VERSION}]->(n) WHERE r.valid_from <= $at "
        "AND (r.valid_to IS NULL OR r.valid_to > $at) SET r.status = $status"
    )
    graph.run(version, {"key": question.key, "at": question.at, "status": "teleported"})
    try:
        outcome = synced.run_check("T4_load_status_timeline")
        assert not outcome.passed
        asked = f"load {question.key} at {question.at}"
        assert answers(outcome, asked) == (shown(answer), "[teleported]", shown(answer))
    finally:
        graph.run(version, {"key": question.key, "at": question.at, "status": answer[0][0]})
    assert synced.run_check("T4_load_status_timeline").passed


def test_t5_names_the_period_and_project_the_graph_lost(synced: StoreBench) -> None:
    context = synced.context()
    periods = temporal.project_periods(context)
    pg = temporal._postgres_projects(context, periods)
    period, pairs = next((p, a) for p, a in zip(periods, pg, strict=True) if a)
    project = pairs[0][0]
    graph = synced.store("graph").dialect
    (started,) = graph.run("MATCH (p:Project {key: $key}) RETURN p.start_date", {"key": project})[0]
    graph.run("MATCH (p:Project {key: $key}) SET p.start_date = '2999-01-01'", {"key": project})
    try:
        outcome = synced.run_check("T5_project_impact")
        assert not outcome.passed
        postgres, graph_answer, graphiti = answers(outcome, f"period {period.first}..{period.last} ({period.kind})")
        assert project in postgres and project not in graph_answer
        assert graphiti == postgres  # Graphiti's part is the goals' progress, unchanged
    finally:
        graph.run("MATCH (p:Project {key: $key}) SET p.start_date = $started", {"key": project, "started": started})
    assert synced.run_check("T5_project_impact").passed


def test_t5_names_the_period_when_graphiti_goal_progress_differs(synced: StoreBench) -> None:
    context = synced.context()
    periods = temporal.project_periods(context)
    pg = temporal._postgres_projects(context, periods)
    spec = temporal.goal_spec(synced.catalog)
    at_end, period = next(
        (Question(goal, period.end_at, ""), period)
        for period, pairs in zip(periods, pg, strict=True)
        for _, goal in pairs
        if goal and answered(synced, spec, [Question(goal, period.end_at, "")])
    )
    goal = at_end.key
    store: TimelineStore = synced.store("timeline")
    store.query(
        "MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() SET e.fact_current = -2.0",
        uuid=timeline_edge(store, spec, at_end)["uuid"],
    )
    try:
        outcome = synced.run_check("T5_project_impact")
        assert not outcome.passed
        postgres, graph_answer, graphiti = answers(outcome, f"period {period.first}..{period.last}")
        assert graph_answer == postgres and goal in postgres
        assert "-2.0" in graphiti and "-2.0" not in postgres
    finally:
        resync(synced, "timeline", "goals")
    assert synced.run_check("T5_project_impact").passed


def test_timeline_bounds_are_utc_whatever_postgres_time_zone(synced: StoreBench) -> None:
    """PostgreSQL hands timestamps over in the session's time zone; FalkorDB compares Graphiti's
    bounds as text, so they must be written in UTC or instants would be compared in mixed offsets."""
    store: TimelineStore = synced.store("timeline")
    synced.sql("set timezone = 'America/Chicago'")
    try:
        resync(synced, "timeline", "driver_assignments")
        rows = store.query(
            "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group AND e.entity = 'driver_assignments' "
            "RETURN e.valid_at AS valid_at, e.invalid_at AS invalid_at",
            group=GROUP,
        )
        bounds = [b for row in rows for b in (row["valid_at"], row["invalid_at"]) if b is not None]
        assert bounds
        if store.driver.provider == GraphProvider.FALKORDB:
            assert all(b.endswith("+00:00") for b in bounds), bounds[:3]
        outcome = synced.run_check("T1_driver_assignment_history")
        assert outcome.passed, outcome.offending
    finally:
        synced.sql("set timezone = 'UTC'")
        resync(synced, "timeline", "driver_assignments")
