"""Navigate (hubs/recall/navigate.py): every navigation the catalog declares answers the same from
the graph (FalkorDB and Neo4j) and from PostgreSQL, its time moves the answer where the data says
it must, and bad questions are 400s over HTTP and tool errors over MCP.

The module syncs the small dataset into the graph once per graph server (Neo4j: only the
entities the navigations cross) and asks each navigation from start keys the data offers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from hubs.recall.http import create_app
from hubs.recall.mcp import create_server
from hubs.recall.memory import Memory
from hubs.recall.model import Navigated
from hubs.sync.records import comparable, join_key
from tests.conftest import StoreBench, module_bench
from tests.helpers import build, land, write_csv
from tests.test_checks_asked_nothing import empty_hubs

# Per navigation, start keys (and times) the data offers, found without Recall: each names a
# start from which the navigation should find something.
QUESTIONS = {
    "carrier_vetting_at_pickup": "select l.load_number, null from hub2_openhaul.loads as l where exists (select from"
    " hub2_openhaul.carrier_vettings as v where v.usdot_number = l.carrier_usdot and v.valid_from <= l.pickup_at"
    " and (v.valid_to is null or v.valid_to > l.pickup_at)) order by 1 limit 3",
    "customer_of_trip": "select trip_number, null from hub3_origin.trips where openhaul_load_number is not null"
    " order by 1 limit 3",
    "owners_as_of": "select entity_code, (valid_from + interval '1 minute')::text from hub6_corporate.ownership_stakes"
    " order by 1, 2 limit 3",
    "hos_events_on_day": "select driver_code, min((event_at at time zone 'UTC')::date)::text"
    " from hub3_origin.hos_events where driver_code is not null group by 1 order by 1 limit 3",
    "unit_service_history": "select unit_number, null from hub3_origin.maintenance_orders"
    " where unit_number is not null group by 1 order by 1 limit 3",
    "drivers_of_unit": "select unit_number, (valid_from + interval '1 minute')::text"
    " from hub3_origin.driver_assignments order by 1, 2 limit 3",
    "policies_covering_unit": "select u, (valid_from + interval '1 minute')::text"
    " from hub6_corporate.insurance_policies, unnest(scheduled_units) as u order by 1, 2 limit 3",
}
# what the navigations cross (Neo4j holds only these)
ENTITIES = [
    "loads",
    "carriers",
    "carrier_vettings",
    "trips",
    "customers",
    "legal_entities",
    "parties",
    "ownership_stakes",
    "drivers",
    "hos_events",
    "tractors",
    "fuel_transactions",
    "inspections",
    "maintenance_orders",
    "driver_assignments",
    "insurance_policies",
]


@pytest.fixture(scope="module", params=["falkordb", "neo4j"])
def world(request: pytest.FixtureRequest, postgres_server: str, stores_template: str, hubs_home: Path) -> Iterator:
    with module_bench(request, postgres_server, "nv") as bench:
        bench.sync("graph", full=True) if request.param == "falkordb" else bench.holding_only("graph", ENTITIES)
        memory = Memory(freshness_seconds=0)
        try:
            yield bench, memory, request.param == "falkordb"
        finally:
            memory.close()
            empty_hubs(bench, "graph")  # the graph servers are the session's: leave them empty


def _text(props: dict[str, Any]) -> str:
    return json.dumps(comparable(props), sort_keys=True)


def comparable_paths(answer: Navigated) -> list[list[tuple]]:
    return [
        [
            (
                h.relationship.type,
                h.relationship.start,
                h.relationship.end,
                h.relationship.owner,
                _text(h.relationship.properties),
                h.node.label,
                h.node.key,
                h.node.hops,
                _text(h.node.properties),
            )
            for h in path
        ]
        for path in answer.paths
    ]


def both_ways(memory: Memory, name: str, key: str, at: str | None, limit: int = 1000) -> tuple[Navigated, Navigated]:
    graph = memory.navigate(name, key, at, limit, source="graph")
    rows = memory.navigate(name, key, at, limit, source="postgres")
    assert (graph.provenance.store, rows.provenance.store) == ("graph", "postgres")
    assert comparable_paths(graph) == comparable_paths(rows), (name, key, at)
    return graph, rows


def test_every_declared_navigation_has_questions(world: tuple[StoreBench, Memory, bool]) -> None:
    _, memory, _ = world
    assert set(QUESTIONS) == {n.name for n in memory.navigations()}


@pytest.mark.parametrize("name", list(QUESTIONS))
def test_the_graph_and_postgres_find_the_same_paths(world: tuple[StoreBench, Memory, bool], name: str) -> None:
    bench, memory, _ = world
    starts = bench.sql(QUESTIONS[name])
    assert starts, f"the dataset offers no start for {name}: the test could not fail"
    found = 0
    for key, at in starts:
        graph, _ = both_ways(memory, name, str(key), at)
        found += len(graph.paths)
        # a small limit cuts both the same way (the stores sort as one)
        if len(graph.paths) > 1:
            cut, rows = both_ways(memory, name, str(key), at, limit=len(graph.paths) - 1)
            assert cut.truncated and rows.truncated and comparable_paths(cut) == comparable_paths(graph)[:-1]
    assert found, f"{name} found nothing from {starts}: the comparison could not fail"


def _an_ending_stake(bench: StoreBench) -> tuple[str, str, Any]:
    """A company, an owner whose stake in it ends (with no later stake of theirs then), and the end."""
    rows = bench.sql(
        "select s.entity_code, s.owner_party_id::text, s.valid_to from hub6_corporate.ownership_stakes as s"
        " where s.valid_to is not null and not exists (select from hub6_corporate.ownership_stakes as o"
        " where o.entity_code = s.entity_code and o.owner_party_id = s.owner_party_id and o.valid_from <= s.valid_to"
        " and (o.valid_to is null or o.valid_to > s.valid_to)) order by 1, 2 limit 1"
    )
    if rows:
        return rows[0]
    pytest.fail("no ownership stake ends in the dataset: the time test could not fail")


def test_moving_the_time_across_a_stakes_end_changes_the_owners(world: tuple[StoreBench, Memory, bool]) -> None:
    bench, memory, _ = world
    company, owner, ends = _an_ending_stake(bench)
    before, after = (ends - timedelta(minutes=1)).isoformat(), ends.isoformat()
    for at, holds in ((before, True), (after, False)):
        graph, _ = both_ways(memory, "owners_as_of", company, at)
        owners = {path[0].node.key for path in graph.paths}
        assert (owner in owners) is holds, (company, owner, at, owners)
        assert graph.provenance.time_bounds is not None
        assert graph.provenance.time_bounds.valid_at == datetime.fromisoformat(at).astimezone(UTC).isoformat()


def test_bad_questions_are_400s_and_the_list_is_discoverable(world: tuple[StoreBench, Memory, bool]) -> None:
    bench, memory, _ = world
    [(trip,)] = bench.sql("select trip_number from hub3_origin.trips order by 1 limit 1")
    [(entity,)] = bench.sql("select entity_code from hub5_financial.legal_entities order by 1 limit 1")
    client = TestClient(create_app(memory))
    listed = client.get("/navigate")
    assert listed.status_code == 200
    assert {n["name"] for n in listed.json()} == set(QUESTIONS)
    assert next(n for n in listed.json() if n["name"] == "owners_as_of")["entity"] == "legal_entity"
    asked = client.get(f"/navigate/customer_of_trip/{trip}")
    assert asked.status_code == 200 and asked.json()["navigation"] == "customer_of_trip"
    for path, expected in (
        ("/navigate/customer_of_trips/X", "did you mean customer_of_trip"),
        (f"/navigate/customer_of_trip/{trip}?at=2025-03-01", "takes no time"),
        (f"/navigate/owners_as_of/{entity}?at=yesterday", "is not an ISO 8601 time"),
        ("/navigate/hos_events_on_day/D1?at=2025-13-01", "is not a day"),
        ("/navigate/unit_service_history/6520?limit=0", "limit must be between"),
        ("/navigate/policies_covering_unit/" + "x" * 600, "longer than any key"),
    ):
        answer = client.get(path)
        assert answer.status_code == 400 and expected in answer.json()["error"], (path, answer.json())
    assert client.get("/navigate/customer_of_trip/NO-SUCH-TRIP").status_code == 404


def test_the_mcp_tool_answers_as_memory_does(world: tuple[StoreBench, Memory, bool]) -> None:
    bench, memory, _ = world
    key, at = bench.sql(QUESTIONS["owners_as_of"])[0]

    async def ask() -> list[Any]:
        async with Client(create_server(Memory)) as client:
            return [
                await client.call_tool("navigate", {"name": "owners_as_of", "key": key, "at": at}),
                await client.call_tool("navigate", {}),
                await client.call_tool("navigate", {"name": "owners", "key": key}),
            ]

    found, listed, unknown = asyncio.run(ask())
    expected = memory.navigate("owners_as_of", key, at, source="postgres")
    assert not found.is_error and expected.paths
    assert [[h["node"]["key"] for h in p] for p in found.structured_content["paths"]] == [
        [h.node.key for h in p] for p in expected.paths
    ]
    assert {n["name"] for n in listed.structured_content["navigations"]} == set(QUESTIONS)
    assert unknown.is_error and "unknown navigation 'owners'" in unknown.content[0].text


def _landed(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value.isoformat() if isinstance(value, datetime) else str(value)


def test_after_a_change_and_a_delete_the_graph_is_bypassed_then_agrees_again(
    world: tuple[StoreBench, Memory, bool], tmp_path: Path
) -> None:
    bench, memory, whole = world
    stake = bench.catalog.by_model("ownership_stakes")
    columns = [c.name for c in stake.landed_columns]
    rows = bench.sql(
        f"select {', '.join(columns)} from hub6_corporate.ownership_stakes as s where exists (select from"
        " hub6_corporate.ownership_stakes as o where o.entity_code = s.entity_code and o.valid_from <> s.valid_from)"
        " order by entity_code, valid_from, owner_party_id limit 2"
    )
    assert len(rows) == 2, "no company with two stakes: the test could not fail"
    changed, gone = (dict(zip(columns, r, strict=True)) for r in rows)
    company = changed["entity_code"]
    assert gone["entity_code"] == company
    when = {
        name: (row["valid_from"] + timedelta(minutes=1)).isoformat()
        for name, row in (("changed", changed), ("gone", gone))
    }
    owner = f"OwnershipStake:{join_key(gone[c] for c in stake.primary_key)}"
    served = memory.navigate("owners_as_of", company, when["gone"])
    assert served.provenance.store == ("graph" if whole else "postgres"), served.provenance
    assert owner in {path[0].relationship.owner for path in served.paths}

    revised = {c: _landed(v) for c, v in changed.items()} | {"ownership_pct": str(changed["ownership_pct"] - 1)}
    deleted = {c: _landed(gone[c]) for c in stake.primary_key} | {"_deleted": "true"}
    land(write_csv(tmp_path / f"{stake.schema}.{stake.table}.csv", [revised]))
    (tmp_path / "delete").mkdir()
    land(write_csv(tmp_path / "delete" / f"{stake.schema}.{stake.table}.csv", [deleted]))
    built = build(
        bench.settings.effective_postgres_url,
        "stg_hub6_corporate__ownership_stakes",
        "hub_deletions",
        "ownership_stakes",
    )
    assert built.returncode == 0, built.stdout[-3000:]

    behind = memory.navigate("owners_as_of", company, when["gone"])
    assert behind.provenance.store == "postgres" and behind.provenance.degraded, behind.provenance
    assert "the graph is behind PostgreSQL" in behind.provenance.reason
    bench.sync("graph")
    after, _ = both_ways(memory, "owners_as_of", company, when["gone"])
    assert owner not in {path[0].relationship.owner for path in after.paths}
    now, _ = both_ways(memory, "owners_as_of", company, when["changed"])
    pct = {path[0].node.key: path[0].relationship.properties["ownership_pct"] for path in now.paths}
    assert pct[str(changed["owner_party_id"])] == float(changed["ownership_pct"] - 1), pct
