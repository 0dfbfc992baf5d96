"""A store check that found nothing to ask says so: it warns (not a pass), its counts say how
many questions it asked and its notes why none (or not all) could be asked. A problem still
fails it. Fed an emptied PostgreSQL and stores synced from it, every check that reads rows warns;
the two that read only the stores' schemas (G3, G10) still have their questions and pass."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubs.checks import checks_of
from hubs.checks.base import ERROR, REGISTRY, WARN, CheckOutcome
from hubs.sync.feed import history_table, hub_table
from tests.conftest import StoreBench

STORES = ("graph", "cache", "vectors", "timeline")
# Their questions come from the catalog and the server's schema, never from rows.
SCHEMA_CHECKS = {"G3_unique_constraints", "G10_filter_indexes"}


def test_an_outcome_warns_only_when_it_found_no_problem_and_something_went_unasked() -> None:
    passed = CheckOutcome.from_problems("C", [], "3 keys", [], asked=3)
    assert passed.passed and not passed.warned
    warned = CheckOutcome.from_problems("C", [], "0 keys", ["no key in PostgreSQL"], asked=0)
    assert (warned.passed, warned.severity, warned.warned) == (False, WARN, True)
    assert warned.counts["asked"] == 0 and warned.notes == {"asked_nothing": "no key in PostgreSQL"}
    assert "asked nothing: no key in PostgreSQL" in warned.summary
    assert warned.metadata()["asked_nothing"] == "no key in PostgreSQL"
    failed = CheckOutcome.from_problems("C", ["a stray node"], "0 keys", ["no key in PostgreSQL"], asked=0)
    assert (failed.passed, failed.severity, failed.offending) == (False, ERROR, ["a stray node"])


def empty_hubs(bench: StoreBench, *kinds: str) -> None:
    """Every hub table emptied, and these stores rebuilt from them: empty. The stores' servers are
    shared by the session, and a later module (test_dagster's refresh) expects them empty."""
    tables = []
    for entity in bench.catalog.entities:
        tables.append(hub_table(entity).as_string(bench.conn))
        if history_table(entity) is not None:
            tables.append(history_table(entity).as_string(bench.conn))
    bench.sql(f"truncate {', '.join(tables)} cascade")
    for kind in kinds:
        bench.synced(kind)


@pytest.fixture
def emptied(bench: StoreBench, offline_embedder: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreBench]:
    """The small dataset with every hub table emptied, and every store synced from it."""
    monkeypatch.delenv("HUBS_NEO4J_URI", raising=False)
    empty_hubs(bench, *STORES)
    yield bench
    empty_hubs(bench, "graph")  # the test leaves a stray node behind


def test_every_check_over_empty_hubs_warns_that_it_asked_nothing(emptied: StoreBench) -> None:
    for kind in STORES:
        checks_of(kind)
    names = [c.name for c in REGISTRY]
    assert len(names) == len(set(names)) == 19  # G1-G10, X1-X4, T1-T5
    for name in names:
        outcome = emptied.run_check(name)
        if name in SCHEMA_CHECKS:
            assert outcome.passed, (name, outcome.summary, outcome.offending)
            continue
        assert outcome.warned, (name, outcome.summary, outcome.offending)
        assert outcome.counts["asked"] == 0 and outcome.counts["problems"] == 0, (name, outcome.counts)
        assert "asked nothing" in outcome.summary and outcome.notes["asked_nothing"], (name, outcome.summary)
    # Asking nothing never hides a problem: a node PostgreSQL has no row for still fails G1.
    emptied.store("graph").dialect.run("CREATE (:Tractor {key: 'stray'})")
    outcome = emptied.run_check("G1_node_counts")
    assert (outcome.passed, outcome.severity) == (False, ERROR), outcome.summary
    assert "Tractor" in outcome.offending[0]


@pytest.fixture
def replica(bench: StoreBench, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreBench]:
    """The small dataset's graph on FalkorDB, emptied again afterwards."""
    monkeypatch.delenv("HUBS_NEO4J_URI", raising=False)
    bench.synced("graph")
    yield bench
    empty_hubs(bench, "graph")


def test_g7_warns_naming_the_path_without_a_known_key(replica: StoreBench) -> None:
    bench = replica
    assert bench.run_check("G7_cross_hub_navigation").passed
    # Nobody owns anything: the ownership path has no start key, the other two still answer.
    bench.sql("update hub1_command.persons set is_owner = false, role = 'advisor' where is_owner")
    outcome = bench.run_check("G7_cross_hub_navigation")
    assert outcome.warned, outcome.summary
    assert outcome.counts["asked"] > 0 and outcome.counts["paths_unasked"] == 1
    assert outcome.notes["asked_nothing"].startswith("Person 'G' -> Party -OWNS-> LegalEntity: ")
    assert "asked 0" not in outcome.summary and "but not all" in outcome.summary
