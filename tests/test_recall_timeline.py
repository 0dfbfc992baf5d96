"""The timeline agrees with PostgreSQL's bi-temporal history (hubs/recall/history.py): after a late
version, a correction and a delete, the same as-of questions (a grid of valid times and known
times taken from the data) get the same answer from PostgreSQL and from Graphiti's edges; Graphiti's
own search, date-filtered, finds the beliefs held in its window; the graph replica's intervals
follow the corrected history. On FalkorDB and on Neo4j.

The module lands three files dated as if on three days (tests/test_recall_history.py's way),
syncing the stores after each, once per graph server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hubs.recall.http import create_app
from hubs.recall.memory import Memory
from hubs.recall.model import RecallError
from hubs.sync.records import normalize
from tests.conftest import StoreBench, module_bench
from tests.helpers import assert_built, build
from tests.test_landing import tractor
from tests.test_recall_history import assignment, day, folder, free_drivers, land_on
from tests.test_store_checks import set_edge_time

LATE_UNIT, MOVED_UNIT = "7402", "7401"  # a tractor that gets a late version; a unit whose driver is corrected
LANDED = ("2027-03-02T09:00:00", "2027-03-05T09:00:00", "2027-03-07T09:00:00")
BUILT = ("+tractors", "+tractors_history", "+driver_assignments")
REPLICA = ["drivers", "tractors", "driver_assignments"]


@dataclass
class World:
    bench: StoreBench
    memory: Memory
    questions: list[tuple[str, str]]  # (entity, key) asked about
    seqs: list[int]  # the last landing sequence of each dated file
    first_driver: str
    second_driver: str


def sync(bench: StoreBench) -> None:
    bench.sync("timeline")
    bench.sync("graph", entities=REPLICA)


@pytest.fixture(scope="module", params=["falkordb", "neo4j"])
def world(
    request: pytest.FixtureRequest, postgres_server: str, stores_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with module_bench(request, postgres_server, "rt") as bench:
        url = bench.settings.effective_postgres_url
        parent = tmp_path_factory.mktemp("timeline-landed")
        first, second = free_drivers(url)
        x, y, z = (str(uuid.uuid4()) for _ in range(3))
        bench.synced("timeline")
        bench.holding_only("graph", REPLICA)
        believed = {
            "hub3_origin.tractors": [
                tractor(MOVED_UNIT),
                tractor(LATE_UNIT, valid_from="2027-01-01T00:00:00Z"),
                tractor(LATE_UNIT, status="out_of_service", valid_from="2027-02-15T00:00:00Z"),
            ],
            "hub3_origin.driver_assignments": [
                assignment(x, first, MOVED_UNIT, "2027-02-20T00:00:00Z"),
                assignment(z, second, LATE_UNIT, "2027-01-10T00:00:00Z", "2027-01-20T00:00:00Z"),
            ],
        }
        corrected = {
            "hub3_origin.tractors": [tractor(LATE_UNIT, status="maintenance", valid_from="2027-02-01T00:00:00Z")],
            "hub3_origin.driver_assignments": [
                assignment(x, first, MOVED_UNIT, "2027-02-20T00:00:00Z", "2027-02-28T00:00:00Z"),
                assignment(y, second, MOVED_UNIT, "2027-02-28T00:00:00Z"),
            ],
        }
        deleted = {"hub3_origin.driver_assignments": [{"assignment_id": z, "_deleted": "true"}]}
        seqs = []
        for name, files, landed in zip("abc", (believed, corrected, deleted), LANDED, strict=True):
            seqs.append(land_on(url, folder(parent, name, files), landed))
            assert_built(build(url, *BUILT))
            sync(bench)
        questions = [("tractor", LATE_UNIT), *(("driver_assignment", k) for k in (x, y, z))]
        memory = Memory(freshness_seconds=60)
        try:
            yield World(bench, memory, questions, seqs, first, second)
        finally:
            memory.close()


def spelled(belief: dict[str, Any], facts: tuple[str, ...]) -> tuple:
    """What both stores answer of a belief: its valid and known bounds and the timeline's facts."""
    row = belief["row"]
    bounds = (row["valid_from"], row["valid_to"], belief["known_from"], belief["known_to"])
    sequences = (belief["known_from_seq"], belief["known_to_seq"])
    return (*map(normalize, bounds), *sequences, *(normalize(row.get(f)) for f in facts))


def grid(world: World, entity: str, key: str) -> tuple[list[datetime | None], list[int | datetime | None]]:
    """Valid times around every bound PostgreSQL ever believed for the key, and known times around
    every landing (by time and by sequence), with "now" on both axes."""
    valid: set[datetime | None] = {None}
    bounds = _bounds(world, entity, key)
    for moment in bounds:
        valid |= {moment - timedelta(seconds=1), moment, moment + timedelta(hours=12)}
    known: list[int | datetime | None] = [None]
    for text, seq in zip(LANDED, world.seqs, strict=True):
        landed = day(text)
        known += [landed - timedelta(seconds=1), landed, landed + timedelta(seconds=1), seq - 1, seq]
    return sorted(valid, key=lambda v: (v is None, v)), known


def _bounds(world: World, entity: str, key: str) -> set[datetime]:
    """Every valid_from / valid_to of every belief about the key, current or superseded."""
    found = world.bench.catalog.by_model({"tractor": "tractors", "driver_assignment": "driver_assignments"}[entity])
    table = f"{found.schema}.{found.table}" + ("_history" if found.history == "scd2" else "")
    column = found.primary_key[0]
    rows = world.bench.sql(
        f"select valid_from, valid_to from {table} where {column}::text = %s union all"
        " select (s.row->>'valid_from')::timestamptz, (s.row->>'valid_to')::timestamptz"
        " from hubs_meta.superseded as s where s.entity = %s and s.row->>%s = %s",
        (key, found.qualified_name, column, key),
    )
    return {t for row in rows for t in row if t is not None}


def test_as_of_questions_get_the_same_answer_from_postgres_and_the_timeline(world: World) -> None:
    asked = differing = 0
    answers_over_known_time: dict[tuple, set] = {}
    problems = []
    for entity, key in world.questions:
        facts = world.bench.catalog.by_model(world.memory.names.entity(entity).model).timeline_facts
        valid_times, known_times = grid(world, entity, key)
        for valid in valid_times:
            for known in known_times:
                pg = world.memory.as_of(entity, key, valid, known, source="postgres")
                tl = world.memory.as_of(entity, key, valid, known, source="timeline")
                assert (pg.provenance.store, tl.provenance.store) == ("postgres", "timeline")
                expected = sorted(spelled(b, facts) for b in pg.beliefs)
                found = sorted(spelled(b, facts) for b in tl.beliefs)
                asked += bool(expected)
                answers_over_known_time.setdefault((entity, key, valid), set()).add(tuple(expected))
                if found != expected:
                    differing += 1
                    problems.append(f"{entity} {key} valid {valid} known {known}: pg {expected}, timeline {found}")
    assert problems == [], f"{differing} of the questions differ:\n" + "\n".join(problems[:10])
    assert asked > 50
    # the grid asks about beliefs that changed: the same valid time, other answers at other known times
    assert sum(len(a) > 1 for a in answers_over_known_time.values()) >= 6


def test_the_timeline_keeps_what_was_believed_before_a_late_version_and_a_delete(world: World) -> None:
    memory = world.memory
    then = memory.as_of("tractor", LATE_UNIT, "2027-02-10", "2027-03-03", source="timeline")
    assert [(b["row"]["status"], b["known_to_seq"]) for b in then.beliefs] == [("active", world.seqs[1])]
    now = memory.as_of("tractor", LATE_UNIT, "2027-02-10", source="timeline")
    assert [b["row"]["status"] for b in now.beliefs] == ["maintenance"]
    _, _, _, z = (k for _, k in world.questions)
    # the deleted assignment: believed until the delete landed, not believed now
    before = memory.as_of("driver_assignment", z, "2027-01-15", "2027-03-06", source="timeline").beliefs
    assert [(b["row"]["driver_code"], b["known_to"]) for b in before] == [(world.second_driver, day(LANDED[2]))]
    assert memory.as_of("driver_assignment", z, "2027-01-15", source="timeline").beliefs == []
    # X4 and the T checks see the expired edges as what they are
    for check in ("X4_postgres_graphiti_parity", "T1_driver_assignment_history"):  # the replica holds REPLICA
        outcome = world.bench.run_check(check)
        assert outcome.passed, (check, outcome.offending)
    assert world.bench.run_check("X4_postgres_graphiti_parity").counts["expired_edges"] >= 3


def test_auto_asks_the_timeline_when_in_sync_and_postgres_with_the_reason_otherwise(world: World) -> None:
    memory = world.memory
    memory.lags.expire()
    answer = memory.as_of("tractor", LATE_UNIT, "2027-02-10")
    assert (answer.provenance.store, answer.provenance.degraded) == ("timeline", False)
    # an entity the timeline does not track: PostgreSQL, not degraded
    customer = world.bench.sql("select customer_code from hub2_openhaul.customers limit 1")[0][0]
    other = memory.as_of("customer", customer)
    assert (other.provenance.store, other.provenance.degraded) == ("postgres", False)
    with pytest.raises(RecallError) as refused:
        memory.as_of("customer", customer, source="timeline")
    assert refused.value.status == 400 and "does not track" in refused.value.message
    # behind: PostgreSQL answers, saying why
    world.bench.sql("update hubs_meta.sync_state set landing_seq = landing_seq - 1 where store = 'timeline'")
    try:
        memory.lags.expire()
        behind = memory.as_of("tractor", LATE_UNIT, "2027-02-10")
        assert (behind.provenance.store, behind.provenance.degraded) == ("postgres", True)
        assert "the timeline is behind PostgreSQL" in behind.provenance.reason
        assert [b["row"]["status"] for b in behind.beliefs] == ["maintenance"]
    finally:
        world.bench.sql("update hubs_meta.sync_state set landing_seq = landing_seq + 1 where store = 'timeline'")
        memory.lags.expire()


def test_graphiti_search_finds_the_beliefs_held_in_its_window(world: World) -> None:
    memory = world.memory
    for valid, known in [("2027-02-10", "2027-03-03"), ("2027-02-10", None), ("2027-02-20", None)]:
        hits = memory.timeline_search(f"Tractor {LATE_UNIT}", ["tractor"], valid_at=valid, known_at=known, k=20).hits
        found = sorted((h.valid_at, h.invalid_at, h.created_at, h.expired_at) for h in hits if h.key == LATE_UNIT)
        expected = sorted(
            tuple(normalize(v) for v in (b["row"]["valid_from"], b["row"]["valid_to"], b["known_from"], b["known_to"]))
            for b in memory.as_of("tractor", LATE_UNIT, valid, known, source="postgres").beliefs
        )
        assert found == expected, (valid, known)
        assert all(h.entity == "tractors" for h in hits)
    # periods: the facts about the unit valid at some time within them (valid_to is exclusive), as believed now
    for start, end, starts in [
        ("2027-01-15", "2027-02-20", ["2027-01-01", "2027-02-01", "2027-02-15"]),
        ("2027-02-15", "2027-03-01", ["2027-02-15"]),
    ]:
        period = memory.timeline_search(f"Tractor {LATE_UNIT}", ["tractor"], valid_from=start, valid_to=end, k=20)
        found = sorted(h.valid_at for h in period.hits if h.key == LATE_UNIT)
        assert found == [normalize(day(s)) for s in starts], (start, end)
    assert all(h.expired_at is None for h in period.hits)


def test_the_replica_follows_the_corrected_history(world: World) -> None:
    """neighbours(at=T) from the graph is PostgreSQL's valid-time answer after the correction; the
    replica's VERSION edges are the history's versions after the late one."""
    memory = world.memory
    drove = {}
    for at in ("2027-02-21", "2027-02-28", "2027-03-01"):
        answers = [
            memory.neighbours("tractor", MOVED_UNIT, types=["DROVE"], at=at, source=source)
            for source in ("graph", "postgres")
        ]
        graph, pg = ({(r.start.key, r.end.key) for r in a.relationships} for a in answers)
        assert graph == pg, at
        drove[at] = graph
    assert drove["2027-02-21"] == {(world.first_driver, MOVED_UNIT)}
    assert drove["2027-03-01"] == {(world.second_driver, MOVED_UNIT)}
    versions = world.bench.store("graph").dialect.run(
        "MATCH (n:Tractor {key: $key})-[r:VERSION]->(n) RETURN r.valid_from, r.valid_to, r.status", {"key": LATE_UNIT}
    )
    history = world.bench.sql(
        "select valid_from, valid_to, status from hub3_origin.tractors_history where unit_number = %s", (LATE_UNIT,)
    )
    assert sorted(tuple(map(normalize, v)) for v in versions) == sorted(tuple(map(normalize, h)) for h in history)
    assert len(history) == 3


def test_x4_names_a_superseded_belief_held_as_current_and_a_wrong_created_at(world: World) -> None:
    bench = world.bench
    store = bench.store("timeline")
    assignments = bench.catalog.by_model("driver_assignments")
    z = world.questions[-1][1]
    [kept] = [e for e in store.edges(assignments) if e["key"] == z]
    assert kept["expired_at"] == normalize(day(LANDED[2]))
    # and a current belief whose created_at is not when PostgreSQL began to believe it
    [current] = [
        e
        for e in store.edges(bench.catalog.by_model("tractors"))
        if e["key"] == LATE_UNIT and e["valid_at"] == normalize(day("2027-02-15")) and e["expired_at"] is None
    ]
    store.query("MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() SET e.expired_at = null", uuid=kept["uuid"])
    set_edge_time(store, current["uuid"], "created_at", normalize(day("2027-03-04")))
    try:
        outcome = bench.run_check("X4_postgres_graphiti_parity")
        assert not outcome.passed
        text = "\n".join(outcome.offending)
        assert f"driver_assignments {z}: no expired edge for the version from {kept['valid_at']}" in text
        assert f"driver_assignments {z}: edge {kept['uuid']} valid_at {kept['valid_at']} matches" in text
        assert (
            f"tractors {LATE_UNIT}: version from {current['valid_at']} believed since {current['created_at']}"
            " in PostgreSQL, its edge's created_at is 2027-03-04T00:00:00+00:00"
        ) in text
    finally:
        set_edge_time(store, current["uuid"], "created_at", current["created_at"])
        store.begin(bench.conn)  # rewrites the deleted key's beliefs from hubs_meta.superseded
        store.delete(assignments, [z])
        bench.conn.commit()
    assert bench.run_check("X4_postgres_graphiti_parity").passed


def test_the_http_routes_answer_as_memory_does(world: World) -> None:
    web = TestClient(create_app(world.memory))
    asked = web.get(f"/entities/tractor/{LATE_UNIT}/as-of", params={"valid_at": "2027-02-10", "source": "timeline"})
    assert asked.status_code == 200, asked.text
    assert [b["row"]["status"] for b in asked.json()["beliefs"]] == ["maintenance"]
    assert asked.json()["provenance"]["store"] == "timeline"
    found = web.get(
        "/timeline/search",
        params={"q": f"Tractor {LATE_UNIT}", "entity": "tractor", "valid_at": "2027-02-10", "known_at": "2027-03-03"},
    )
    assert found.status_code == 200, found.text
    assert [h["fact"] for h in found.json()["hits"] if h["key"] == LATE_UNIT] == [
        f"Tractor {LATE_UNIT} (status=active, owner_entity=OT)"
    ]
    refused = web.get("/timeline/search", params={"q": "x", "valid_at": "2027-02-10", "valid_from": "2027-02-01"})
    assert refused.status_code == 400 and "valid_at" in refused.json()["error"]
