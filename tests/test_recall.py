"""Recall (hubs/recall): the same answer from whichever store serves it, never a stale record from
the cache, a degraded answer from PostgreSQL when a store is down or behind, clear 4xx for bad
input, and the HTTP interface with its token rule.

The module syncs the small dataset once into a graph and a cache server of its own (the tests
stop them at the end); the Neo4j test syncs only the entities its questions cross."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2.errors
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from hubs import settings as hubs_settings
from hubs.catalog import Entity
from hubs.cli import main
from hubs.recall.http import create_app
from hubs.recall.inputs import Names
from hubs.recall.memory import Memory
from hubs.recall.model import Neighbours, RecallError
from hubs.recall.postgres import current_row
from hubs.recall.tokens import token_for
from hubs.servers.redis import CacheServer, GraphServer
from hubs.sync.cache import GENERATIONS, CacheStore, record_key
from hubs.sync.feed import Change
from hubs.sync.records import comparable, join_key, properties
from tests.conftest import STORES_TEMPLATE_DB, StoreBench, free_port, private_database
from tests.helpers import build, land, write_csv
from tests.test_checks_asked_nothing import empty_hubs
from tests.test_sync import leaf_keys, revised_goals

X3 = "X3_postgres_redis_parity"
# the nodes a two-hop question from a unit reaches without its trips, fuel and ELD events (a
# driver has hundreds), so the answer stays under the limit
NEAR_A_UNIT = ["Driver", "DriverAssignment", "Tractor", "Trailer", "Inspection", "MaintenanceOrder", "LegalEntity"]


@dataclass
class World:
    bench: StoreBench
    memory: Memory
    graph: GraphServer
    cache: CacheServer


@pytest.fixture(scope="module")
def world(
    postgres_server: str, stores_template: str, hubs_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    home = tmp_path_factory.mktemp("recall")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("HUBS_NEO4J_URI", raising=False)
        with private_database(postgres_server, patch, "rc", STORES_TEMPLATE_DB):
            settings = replace(hubs_settings.load(), home=home)
            graph, cache = GraphServer(settings, free_port()), CacheServer(settings, free_port())
            graph.start()
            cache.start()
            patch.setenv("HUBS_FALKORDB_URL", graph.url)
            patch.setenv("HUBS_REDIS_URL", cache.url)
            bench = StoreBench()
            memory = None
            try:
                bench.sync("graph", full=True)
                bench.sync("cache", full=True)
                memory = Memory(freshness_seconds=0)
                yield World(bench, memory, graph, cache)
            finally:
                if memory is not None:
                    memory.close()
                bench.close()
                graph.stop()
                cache.stop()


def truth(bench: StoreBench, model: str, key: str) -> dict[str, Any]:
    """The row's facts as PostgreSQL holds them, read without Recall."""
    entity = bench.catalog.by_model(model)
    row = current_row(bench.conn, entity, Names(bench.catalog).key(entity, key))
    bench.conn.rollback()
    assert row is not None, (model, key)
    return properties(entity, row)


def a_unit_and_a_moment(bench: StoreBench) -> tuple[str, datetime, set[str], set[str]]:
    """A unit several drivers drove, a moment inside one of its assignments, who drove it then and
    who ever did."""
    [(unit, moment)] = bench.sql(
        "with moments as (select unit_number, valid_from + interval '1 minute' as t"
        " from hub3_origin.driver_assignments),"
        " driving as (select m.unit_number, m.t, array_agg(a.driver_code) as drivers from moments as m"
        " join hub3_origin.driver_assignments as a on a.unit_number = m.unit_number and a.valid_from <= m.t"
        " and (a.valid_to is null or a.valid_to > m.t) group by 1, 2)"
        " select d.unit_number, d.t from driving as d where exists (select from hub3_origin.driver_assignments as b"
        " where b.unit_number = d.unit_number and b.driver_code <> all(d.drivers)) order by 1, 2 limit 1"
    )
    then = bench.sql(
        "select driver_code from hub3_origin.driver_assignments where unit_number = %s"
        " and valid_from <= %s and (valid_to is null or valid_to > %s)",
        (unit, moment, moment),
    )
    ever = bench.sql("select driver_code from hub3_origin.driver_assignments where unit_number = %s", (unit,))
    return unit, moment, {d for (d,) in then}, {d for (d,) in ever}


def comparable_answer(answer: Neighbours) -> tuple[list, list]:
    def text(props: dict[str, Any]) -> str:
        return json.dumps(comparable(props), sort_keys=True)

    nodes = sorted((n.label, n.key, n.hops, text(n.properties)) for n in answer.nodes)
    relations = sorted(
        (r.type, r.start.label, r.start.key, r.end.label, r.end.key, r.owner, text(r.properties))
        for r in answer.relationships
    )
    return nodes, relations


def assert_same_both_ways(memory: Memory, entity: str, key: str, **question: Any) -> Neighbours:
    graph = memory.neighbours(entity, key, source="graph", limit=1000, **question)
    rows = memory.neighbours(entity, key, source="postgres", limit=1000, **question)
    assert (graph.provenance.store, rows.provenance.store) == ("graph", "postgres")
    assert not graph.truncated and not rows.truncated, (
        entity,
        key,
        question,
        Counter(r.type for r in graph.relationships),
        Counter(r.type for r in rows.relationships),
    )
    assert graph.relationships, f"nothing to compare for {entity} {key} {question}: the test could not fail"
    ours, theirs = comparable_answer(graph), comparable_answer(rows)
    assert ours == theirs, (
        f"{entity} {key} {question}: graph only {sorted(set(ours[1]) - set(theirs[1]))[:3]},"
        f" PostgreSQL only {sorted(set(theirs[1]) - set(ours[1]))[:3]}"
    )
    return graph


def covered_types(memory: Memory, *leave_out: str) -> list[str]:
    return sorted(t for t in memory.names.types if t not in memory.relations.uncovered and t not in leave_out)


# -- get ---------------------------------------------------------------------------------------------


def test_get_reads_records_through_the_cache_and_they_are_what_postgres_holds(world: World) -> None:
    bench, memory = world.bench, world.memory
    [(unit,)] = bench.sql("select unit_number from hub3_origin.tractors order by 1 limit 1")
    expected = truth(bench, "tractors", unit)

    first, second = memory.get("tractor", unit), memory.get("hub3_origin.tractors", unit)

    assert first.provenance.store == "postgres" and "cached" in first.provenance.reason, first.provenance
    assert second.provenance.store == "cache" and 0 < second.provenance.ttl_left_ms <= 60_000, second.provenance
    assert first.values == second.values == expected
    assert memory.get("Tractor", unit, columns=["status"]).values == {"status": expected.get("status")}
    # An entity the cache does not hold, and a key of two columns, from PostgreSQL as the reader role.
    [(driver,)] = bench.sql("select driver_code from hub3_origin.drivers order by 1 limit 1")
    record = memory.get("driver", driver)
    assert record.values == truth(bench, "drivers", driver) and record.provenance.store == "postgres"
    assert record.provenance.read_as.startswith("role hubs_reader, read-only transactions"), record.provenance
    [(provider, txn)] = bench.sql("select card_provider, transaction_id from hub3_origin.fuel_transactions limit 1")
    key = join_key([provider, txn])
    assert memory.get("fuel_transaction", key).values == truth(bench, "fuel_transactions", key)


def test_postgres_is_read_as_the_reader_role_in_read_only_transactions(world: World) -> None:
    memory = world.memory
    memory.lags.expire()
    memory.freshness("graph")  # reads the lags on a pooled connection, saving and restoring its flags
    with memory.postgres.connection() as conn, conn.cursor() as cur:
        cur.execute("select current_user, current_setting('transaction_read_only')")
        assert cur.fetchone() == ("hubs_reader", "on")
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("update hub3_origin.tractors set status = status")
        cur.execute("begin read write")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("update hub3_origin.tractors set status = status")
        cur.execute("rollback")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("select count(*) from quarantine.rows")  # raw values stay out of its reach


def test_x3_compares_the_records_read_through_and_names_a_stale_one(world: World) -> None:
    bench, memory = world.bench, world.memory
    [(unit,)] = bench.sql("select unit_number from hub3_origin.tractors order by 1 desc limit 1")
    memory.get("tractor", unit)
    passed = bench.run_check(X3)
    assert passed.passed and passed.counts["records"] >= 1, (passed.summary, passed.offending)

    stale = record_key(bench.catalog.by_model("tractors"), unit)
    memory.cache.client.set(stale, json.dumps({"status": "scrapped"}), ex=60)
    try:
        failed = bench.run_check(X3)
    finally:
        memory.cache.client.delete(stale)
    assert not failed.passed and failed.counts["stale_records"] == 1
    assert any(p.startswith(f"{stale} holds") for p in failed.offending), failed.offending


def test_a_fill_that_a_change_overtook_is_refused(world: World) -> None:
    # A reader misses, reads PostgreSQL, and the cache sync deletes the record meanwhile: the
    # reader's (possibly old) row must not be written after the delete.
    bench, memory = world.bench, world.memory
    tractor = bench.catalog.by_model("tractors")
    [(unit,)] = bench.sql("select unit_number from hub3_origin.tractors order by 1 limit 1 offset 1")
    memory.cache.client.delete(record_key(tractor, unit))
    seen = memory.cache.look(tractor, unit)
    row = current_row(bench.conn, tractor, Names(bench.catalog).key(tractor, unit))
    bench.conn.rollback()
    store: CacheStore = bench.store("cache")
    store.upsert(tractor, [Change(unit, row)])  # what the cache sync does when the row changed

    assert memory.cache.fill(tractor, unit, row, seen.generation) is None
    assert not memory.cache.client.exists(record_key(tractor, unit))
    assert memory.cache.client.hget(GENERATIONS, tractor.label) is not None
    # a fill nothing overtook is written
    assert memory.cache.fill(tractor, unit, row, memory.cache.look(tractor, unit).generation) == 60_000


def test_a_changed_and_a_deleted_row_are_never_served_stale_from_the_cache(world: World, tmp_path: Path) -> None:
    bench, memory = world.bench, world.memory
    goal: Entity = bench.catalog.by_model("goals")
    changed, gone = leaf_keys(bench, goal)[:2]
    for key in (changed, gone):
        memory.get("goal", key)
        assert memory.get("goal", key).provenance.store == "cache"
    (tmp_path / "change").mkdir()
    land(revised_goals(bench, [changed], tmp_path / "change"))
    land(write_csv(tmp_path / f"{goal.schema}.{goal.table}.csv", [{"goal_id": gone, "_deleted": "true"}]))
    built = build(
        bench.settings.effective_postgres_url, "stg_hub1_command__goals", "hub_deletions", "goals", "goals_history"
    )
    assert built.returncode == 0, built.stdout[-3000:]

    # Before the cache sync: the cache is behind, so PostgreSQL answers, not the old record.
    before = memory.get("goal", changed)
    assert before.provenance.store == "postgres" and before.provenance.degraded, before.provenance
    assert "behind" in before.provenance.reason and before.values["title"].endswith("(revised)")
    with pytest.raises(RecallError) as missing:
        memory.get("goal", gone)
    assert missing.value.status == 404

    bench.sync("cache")
    assert not memory.cache.client.exists(record_key(goal, changed), record_key(goal, gone))
    after = [memory.get("goal", changed) for _ in range(2)]
    assert [a.provenance.store for a in after] == ["postgres", "cache"]
    assert all(a.values == truth(bench, "goals", changed) for a in after)
    with pytest.raises(RecallError):
        memory.get("goal", gone)
    assert bench.run_check(X3).passed
    bench.sync("graph")  # the questions after this one want the graph in sync again


# -- neighbours --------------------------------------------------------------------------------------


def test_neighbours_from_the_graph_equal_neighbours_from_postgres(world: World) -> None:
    bench, memory = world.bench, world.memory
    unit, _, _, _ = a_unit_and_a_moment(bench)
    served = memory.neighbours("tractor", unit)
    assert served.provenance.store == "graph" and not served.provenance.degraded, served.provenance
    assert_same_both_ways(memory, "tractor", unit, types=covered_types(memory, "RECORDED_ON", "FUELED", "FOR_UNIT"))
    assert_same_both_ways(memory, "tractor", unit, hops=2, types=covered_types(memory), labels=NEAR_A_UNIT)
    [(party,)] = bench.sql("select party_id::text from hub3_origin.drivers order by 1 limit 1")
    assert_same_both_ways(memory, "party", party, types=covered_types(memory))
    # arrays, both ways: a policy's scheduled units, the policies listing a unit, a note's attendees
    [(insurer, number, since, listed)] = bench.sql(
        "select p.insurer_party_id, p.policy_number, p.valid_from, u.unit_number"
        " from hub6_corporate.insurance_policies as p cross join unnest(p.scheduled_units) as s (unit)"
        " join hub3_origin.tractors as u on u.unit_number = s.unit order by 1, 2, 3 limit 1"
    )
    assert_same_both_ways(memory, "insurance_policy", join_key([insurer, number, since]), direction="out")
    assert_same_both_ways(memory, "tractor", listed, types=["COVERS"], direction="in")
    [(note,)] = bench.sql(
        "select note_id::text from hub1_command.meeting_notes where cardinality(attendee_party_ids) > 0 limit 1"
    )
    assert_same_both_ways(memory, "meeting_note", note, types=["ATTENDED_BY"])


def test_who_drove_a_unit_at_a_time(world: World) -> None:
    memory = world.memory
    unit, moment, then, ever = a_unit_and_a_moment(world.bench)
    assert then and then < ever, "the unit needs drivers at other times: the test could not fail"
    for source in ("graph", "postgres"):
        answer = memory.neighbours("tractor", unit, types=["DROVE"], at=moment.isoformat(), source=source)
        assert {n.key for n in answer.nodes} == then, source
        assert answer.provenance.time_bounds.valid_at == moment.astimezone(UTC).isoformat()
        everyone = memory.neighbours("tractor", unit, types=["DROVE"], source=source)
        assert {n.key for n in everyone.nodes} == ever, source
    before_any = memory.neighbours("tractor", unit, types=["DROVE"], at="1990-01-01")
    assert before_any.nodes == [] and before_any.relationships == []
    assert_same_both_ways(memory, "tractor", unit, types=["DROVE", "ASSIGNED_TO"], at=moment)


def test_bad_input_is_a_400_that_says_what_was_expected(world: World) -> None:
    memory = world.memory
    cases = {
        "unknown entity 'tractr': did you mean tractor": lambda: memory.get("tractr", "6501"),
        "is not a key of fuel_transaction: it has 2 parts": lambda: memory.get("fuel_transaction", "abc"),
        "'nope' is not a valid assignment_id of driver_assignment (a uuid)": lambda: memory.get(
            "driver_assignment", "nope"
        ),
        "hops must be between 1 and 3, not 4": lambda: memory.neighbours("tractor", "6501", hops=4),
        "'yesterday' is not an ISO 8601 time": lambda: memory.neighbours("tractor", "6501", at="yesterday"),
        "unknown relationship type 'DROOVE': did you mean DROVE": lambda: memory.neighbours(
            "tractor", "6501", types=["DROOVE"]
        ),
        "limit must be between 1 and 1000": lambda: memory.neighbours("tractor", "6501", limit=5000),
        "tractor has no column 'colour'": lambda: memory.get("tractor", "6501", columns=["colour"]),
    }
    for message, ask in cases.items():
        with pytest.raises(RecallError) as error:
            ask()
        assert error.value.status == 400 and message in error.value.message, (message, error.value.message)
    with pytest.raises(RecallError) as unknown:
        memory.get("driver", "NO-SUCH-DRIVER")
    assert unknown.value.status == 404


def test_context_holds_the_facts_relationships_and_changes_within_its_cap(world: World) -> None:
    memory = world.memory
    unit, _, _, _ = a_unit_and_a_moment(world.bench)
    record = memory.get("tractor", unit)
    near = memory.neighbours("tractor", unit, hops=1, at=datetime.now(UTC), limit=50)
    assert record.values and near.relationships, "the unit needs facts and relationships: the test could not fail"
    whole = memory.context("tractor", unit, chars=100_000)
    assert not whole.truncated and whole.chars == len(whole.text) <= 100_000
    for name in record.values:
        assert f"\n{name}: " in whole.text, name
    assert whole.sections["Facts"] == {"lines": len(record.values), "of": len(record.values)}
    assert whole.sections["Related"]["lines"] == len(near.relationships) + near.truncated
    for relation in near.relationships:
        other = relation.end if relation.start == near.start.ref else relation.start
        assert f"[{relation.type}]" in whole.text and f"{other.label} {other.key}" in whole.text
    assert whole.sections["Recent changes"]["lines"] >= 1, "a landed unit was added at least once"
    assert whole.provenance["Related"].store in ("graph", "postgres")
    for cap in (200, 600, 1500):
        small = memory.context("tractor", unit, chars=cap)
        assert small.chars == len(small.text) <= cap and small.truncated, cap
        assert small.text.startswith(f"# Tractor {unit} ")
        assert all(s["lines"] <= s["of"] for s in small.sections.values())
    more = memory.context("tractor", unit, chars=1500)
    assert sum(s["lines"] for s in more.sections.values()) > sum(
        s["lines"] for s in memory.context("tractor", unit, chars=600).sections.values()
    )
    with pytest.raises(RecallError, match="chars must be between 200 and 100000"):
        memory.context("tractor", unit, chars=50)


# -- HTTP --------------------------------------------------------------------------------------------


def test_http_answers_as_memory_does_and_says_what_is_wrong(world: World) -> None:
    bench = world.bench
    client = TestClient(create_app(world.memory))
    [(driver,)] = bench.sql("select driver_code from hub3_origin.drivers order by 1 limit 1")
    record = client.get(f"/entities/driver/{driver}")
    assert record.status_code == 200 and record.json()["values"] == truth(bench, "drivers", driver)
    unit, moment, then, _ = a_unit_and_a_moment(bench)
    found = client.get(f"/entities/tractor/{unit}/neighbours", params={"type": "DROVE", "at": moment.isoformat()})
    assert found.status_code == 200 and {n["key"] for n in found.json()["nodes"]} == then
    assert found.json()["provenance"]["time_bounds"]["valid_at"] == moment.astimezone(UTC).isoformat()
    # The same JSON FastAPI made of the answer's dict when it validated it (dates, decimals, tuples)
    wide = client.get(f"/entities/tractor/{unit}/neighbours", params={"hops": 2}).json()
    asked = world.memory.neighbours("tractor", unit, hops=2).to_dict()
    as_fastapi = TypeAdapter(dict[str, Any]).dump_python(asked, mode="json")
    assert len(wide["nodes"]) > 1 and {k: wide[k] for k in ("start", "nodes", "relationships")} == {
        k: as_fastapi[k] for k in ("start", "nodes", "relationships")
    }
    for path, params, status, message in [
        ("/entities/tractr/6501", {}, 400, "unknown entity 'tractr'"),
        ("/entities/fuel_transaction/abc", {}, 400, "it has 2 parts"),
        (f"/entities/tractor/{unit}/neighbours", {"hops": 4}, 400, "hops must be between 1 and 3"),
        (f"/entities/tractor/{unit}/neighbours", {"hops": "two"}, 400, "hops"),
        (f"/entities/tractor/{unit}/neighbours", {"at": "yesterday"}, 400, "ISO 8601"),
        ("/entities/driver/NO-SUCH-DRIVER", {}, 404, "no driver with key 'NO-SUCH-DRIVER'"),
    ]:
        answer = client.get(path, params=params)
        assert answer.status_code == status and message in answer.json()["error"], (path, params, answer.text)
    context = client.get(f"/entities/tractor/{unit}/context", params={"chars": 800})
    assert context.status_code == 200 and context.json()["text"] == world.memory.context("tractor", unit, 800).text
    assert client.get(f"/entities/tractor/{unit}/context", params={"chars": 10**6}).status_code == 400
    assert client.get("/docs").status_code == 200
    assert "/entities/{entity}/{key}/neighbours" in client.get("/openapi.json").json()["paths"]
    health = client.get("/health").json()
    assert health["graph"]["ok"] and health["cache"]["ok"] and health["graph"]["freshness"]["in_sync"]


def test_http_wants_the_token_it_is_given_and_none_only_on_loopback(world: World) -> None:
    client = TestClient(create_app(world.memory, token="tok-7f3a9c2e51"))
    [(driver,)] = world.bench.sql("select driver_code from hub3_origin.drivers order by 1 limit 1")
    path = f"/entities/driver/{driver}"
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer tok-7f3a9c2e51"}).status_code == 200
    assert client.get("/docs").status_code == 200  # the documentation stays readable
    assert token_for("127.0.0.1", {}) is None and token_for("::1", {}) is None and token_for("localhost", {}) is None
    assert token_for("10.0.0.5", {"HUBS_API_TOKEN": "t0ken-value"}) == "t0ken-value"
    for host in ("0.0.0.0", "10.0.0.5", "example.org"):
        with pytest.raises(ValueError, match="HUBS_API_TOKEN"):
            token_for(host, {})
    refused = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"], env={"HUBS_API_TOKEN": ""})
    assert refused.exit_code != 0 and "HUBS_API_TOKEN" in refused.output


def test_postgres_down_is_a_503_without_the_password(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://hubs:Zq8-secret-pw@127.0.0.1:{free_port()}/hubs"
    monkeypatch.setenv("HUBS_POSTGRES_URL", url)
    with Memory(hubs_settings.load(), world.bench.catalog) as down:
        with pytest.raises(RecallError) as error:
            down.get("driver", "ANY")
        answer = TestClient(create_app(down)).get("/entities/driver/ANY")
    assert error.value.status == 503 and "PostgreSQL" in error.value.message
    assert answer.status_code == 503 and "Zq8-secret-pw" not in answer.text and "***" in answer.text


# -- degraded (last: they stop the module's servers) -------------------------------------------------


def test_a_graph_behind_or_stopped_and_a_stopped_cache_give_degraded_answers(world: World) -> None:
    bench, memory = world.bench, world.memory
    unit = a_unit_and_a_moment(bench)[0]
    question: dict[str, Any] = {"types": ["DROVE", "ASSIGNS_UNIT"], "hops": 2}
    served = memory.neighbours("tractor", unit, **question)
    assert served.provenance.store == "graph"

    [(mark,)] = bench.sql(
        "select landing_seq from hubs_meta.sync_state where store = 'graph' and entity = %s", ("driver_assignments",)
    )
    bench.sql("update hubs_meta.sync_state set landing_seq = 0 where store = 'graph' and entity = 'driver_assignments'")
    try:
        behind = memory.neighbours("tractor", unit, **question)
    finally:
        bench.sql(
            "update hubs_meta.sync_state set landing_seq = %s where store = 'graph' and entity = %s",
            (mark, "driver_assignments"),
        )
    assert behind.provenance.store == "postgres" and behind.provenance.degraded
    assert "the graph is behind PostgreSQL" in behind.provenance.reason and behind.provenance.freshness.changed > 0
    assert comparable_answer(behind) == comparable_answer(served)

    world.graph.stop()
    stopped = memory.neighbours("tractor", unit, **question)
    assert stopped.provenance.store == "postgres" and stopped.provenance.degraded, stopped.provenance
    assert "graph" in stopped.provenance.reason and comparable_answer(stopped) == comparable_answer(served)
    everything = memory.neighbours(
        "regulatory_filing", bench.sql("select filing_id::text from hub6_corporate.regulatory_filings limit 1")[0][0]
    )
    assert "LISTS (json)" in everything.provenance.not_included, everything.provenance

    world.cache.stop()
    record = memory.get("tractor", unit)
    assert record.provenance.store == "postgres" and record.provenance.degraded
    assert "the cache is unreachable" in record.provenance.reason
    assert record.values == truth(bench, "tractors", unit)
    health = memory.health()
    assert not health["graph"]["ok"] and not health["cache"]["ok"] and health["postgres"]["ok"]


# -- Neo4j -------------------------------------------------------------------------------------------

# What the Neo4j question crosses (a full sync is slow there), and the types it asks for.
NEO4J_ENTITIES = ["parties", "legal_entities", "drivers", "tractors", "trailers", "driver_assignments", "trips"]
NEO4J_TYPES = ["DROVE", "ASSIGNED_TO", "ASSIGNS_UNIT", "ASSIGNS_DRIVER", "OWNED_BY", "IS"]


@pytest.fixture(scope="module")
def on_neo4j(postgres_server: str, stores_template: str, hubs_home: Path, neo4j_uri: str) -> Iterator[tuple]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HUBS_NEO4J_URI", neo4j_uri)
        patch.setenv("HUBS_NEO4J_PASSWORD", "")
        with private_database(postgres_server, patch, "rn", STORES_TEMPLATE_DB):
            bench = StoreBench()
            try:
                bench.holding_only("graph", NEO4J_ENTITIES)
                with Memory(freshness_seconds=60) as memory:
                    yield bench, memory
            finally:
                empty_hubs(bench, "graph")  # the Neo4j server is the session's: leave it empty
                bench.close()


def test_neighbours_from_neo4j_equal_neighbours_from_postgres(on_neo4j: tuple) -> None:
    bench, memory = on_neo4j
    unit, moment, then, _ = a_unit_and_a_moment(bench)
    assert_same_both_ways(memory, "tractor", unit, hops=2, types=NEO4J_TYPES)
    assert_same_both_ways(memory, "tractor", unit, types=["USES", "PULLS", "DRIVEN_BY", "DROVE"])  # its trips
    answer = assert_same_both_ways(memory, "tractor", unit, types=["DROVE"], at=moment)
    assert {n.key for n in answer.nodes} == then
