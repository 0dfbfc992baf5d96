"""Where the design names a relationship, the graph answers to that name: asked the design's way,
a synced graph returns what PostgreSQL says it should, on FalkorDB and on Neo4j. And every pattern
the cross-reference prints finds edges in a synced graph wherever PostgreSQL implies some."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubs.checks.graph import expected_edges
from hubs.docs.cross_reference import DOCUMENT
from tests.conftest import StoreBench, module_bench
from tests.test_checks_asked_nothing import empty_hubs
from tests.test_cross_reference import navigation_patterns, section, table_rows, unquote

# The design's own patterns (the Tractor entry and the hub catalog) and, for each, the pairs
# PostgreSQL says the graph must return: (start key, end key), one per edge. The graph counts the
# edges of each pair (FalkorDB returns a pair once when the edge itself is not referenced).
DESIGN_QUESTIONS = {
    "MATCH (t:Tractor)-[r:ASSIGNED_TO]-(d:Driver) RETURN t.key, d.key, count(r)": (
        "select unit_number, driver_code from hub3_origin.driver_assignments"
    ),
    "MATCH (l:Load)-[r:ASSIGNED_UNIT]->(t:Tractor) RETURN l.key, t.key, count(r)": (
        "select openhaul_load_number, unit_number from hub3_origin.trips"
        " where openhaul_load_number is not null and unit_number is not null"
    ),
    "MATCH (f:FuelTransaction)-[r:FUELED]->(t:Tractor) RETURN f.key, t.key, count(r)": (
        "select card_provider || '|' || transaction_id, unit_number from hub3_origin.fuel_transactions"
        " where unit_number is not null"
    ),
    "MATCH (f:FuelTransaction)-[r:FOR_UNIT]->(t:Tractor) RETURN f.key, t.key, count(r)": (
        "select card_provider || '|' || transaction_id, unit_number from hub3_origin.fuel_transactions"
        " where unit_number is not null"
    ),
    "MATCH (t:Trip)-[r:USES]->(d:Driver) RETURN t.key, d.key, count(r)": (
        "select trip_number, driver_code from hub3_origin.trips where driver_code is not null"
    ),
    "MATCH (a:Party)-[r:REL]->(b:Party) RETURN a.key, b.key, count(r)": (
        "select from_party_id::text, to_party_id::text from hub4_contacts.party_relationships"
    ),
    "MATCH (i:ArInvoice)-[r:BILLS]->(x) RETURN i.key, x.key, count(r)": (
        "select m.entity_code || '|' || m.invoice_number, m.load_ref from hub5_financial.invoice_load_matches as m"
        " where m.load_ref in (select load_number from hub2_openhaul.loads union all"
        " select trip_number from hub3_origin.trips)"
    ),
}
# What those questions read (with their ends); Neo4j syncs only these (a full rebuild is slow there).
ENTITIES = [
    "parties",
    "legal_entities",
    "drivers",
    "tractors",
    "trailers",
    "driver_assignments",
    "customers",
    "carriers",
    "loads",
    "trips",
    "fuel_transactions",
    "party_relationships",
    "ar_invoices",
    "invoice_load_matches",
]


@pytest.fixture(scope="module", params=["falkordb", "neo4j"])
def synced(request: pytest.FixtureRequest, postgres_server: str, stores_template: str, hubs_home: Path) -> Iterator:
    with module_bench(request, postgres_server, "dr") as bench:
        whole = request.param == "falkordb"
        bench.sync("graph", full=True) if whole else bench.holding_only("graph", ENTITIES)
        yield bench, whole
        empty_hubs(bench, "graph")  # the graph servers are the session's: leave them empty


@pytest.mark.parametrize("question", list(DESIGN_QUESTIONS))
def test_the_graph_answers_the_designs_relationship_names(synced: tuple[StoreBench, bool], question: str) -> None:
    bench, _ = synced
    truth = Counter((str(a), str(b)) for a, b in bench.sql(DESIGN_QUESTIONS[question]))
    assert truth, f"the dataset has nothing to ask with {question}: the test could not fail"
    found = Counter({(str(a), str(b)): int(n) for a, b, n in bench.store("graph").dialect.run(question)})
    assert found == truth, f"{question}: missing {sorted(truth - found)[:5]}, extra {sorted(found - truth)[:5]}"


def test_current_assignment_asked_the_designs_way(synced: tuple[StoreBench, bool]) -> None:
    # "Who drives unit X now" through ASSIGNED_TO answers what DROVE and PostgreSQL answer.
    bench, _ = synced
    truth = sorted(
        (str(u), str(d), str(s))
        for u, d, s in bench.sql(
            "select unit_number, driver_code, seat from hub3_origin.driver_assignments where valid_to is null"
        )
    )
    assert truth
    graph = bench.store("graph").dialect
    for pattern in ("(t:Tractor)-[r:ASSIGNED_TO]-(d:Driver)", "(d:Driver)-[r:DROVE]->(t:Tractor)"):
        rows = graph.run(f"MATCH {pattern} WHERE r.valid_to IS NULL RETURN t.key, d.key, r.seat")
        assert sorted((str(u), str(d), str(s)) for u, d, s in rows) == truth, pattern


def test_every_printed_pattern_finds_edges_where_postgres_implies_some(synced: tuple[StoreBench, bool]) -> None:
    bench, whole = synced
    if not whole:
        pytest.skip("Neo4j holds only the entities of the design's questions")
    implied = {group for group, n in expected_edges(bench.context()).counts.items() if n}
    document = DOCUMENT.read_text(encoding="utf-8")
    graph = bench.store("graph").dialect
    # Directory rows: Type | From | To (several for polymorphic ones) | ... ; every implied group is listed.
    listed = set()
    for row in table_rows(section(document, "Relationship Directory")):
        for target in row[2].split(", "):
            listed.add((unquote(row[0]), row[1], target))
    for rel_type, start, end in sorted(implied):
        if rel_type == "VERSION":
            continue  # SCD-2 versions are in Temporal Tracking, not the directory
        assert {(rel_type, start, end), (rel_type, start, "any entity")} & listed, (rel_type, start, end)
        [[count]] = graph.run(f"MATCH (a:{start})-[:{rel_type}]->(b:{end}) RETURN count(*)")
        assert count, f"({start})-[:{rel_type}]->({end}): PostgreSQL implies edges, the pattern finds none"
    # Navigation rows: their Cypher, run as printed (LIMIT 25), finds what PostgreSQL implies.
    for start, rel_type, end, row in navigation_patterns(document):
        wanted = any(t == rel_type and s == start and (e == end or not end) for t, s, e in implied)
        cypher = re.sub(r"^`|`$", "", row[-1])
        assert bool(graph.run(cypher)) == wanted, (row[-1], wanted)
