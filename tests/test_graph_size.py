"""What the graph store reports it holds is the replica alone: on Neo4j, Graphiti's timeline lives
in the same database, and its nodes and edges are not the replica's (the demo summary, the
`graph/replica` asset and the checks' counts read this)."""

from __future__ import annotations

import pytest

from hubs.sync.graph import neo4j as neo4j_dialect
from hubs.sync.graph.store import GraphStore
from tests import fingerprints
from tests.conftest import StoreBench


@pytest.fixture
def on_neo4j(neo4j_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBS_NEO4J_URI", neo4j_uri)
    monkeypatch.setenv("HUBS_NEO4J_PASSWORD", "")


# Enough of each store to count (a whole sync of both on Neo4j takes minutes).
GRAPH_PART = ["tractors", "drivers", "driver_assignments"]
TIMELINE_PART = ["drivers", "driver_assignments"]


def test_the_graph_size_on_neo4j_counts_the_replica_not_the_timeline_beside_it(
    on_neo4j: None, offline_embedder: None, bench: StoreBench
) -> None:
    graph, timeline = bench.store("graph"), bench.store("timeline")
    graph.clear(bench.catalog)  # the server is the session's: start from nothing
    timeline.clear(bench.catalog)
    bench.sync("graph", entities=GRAPH_PART)
    replica = graph.size(bench.catalog)
    rows = sum(bench.sql(f"select count(*) from {bench.catalog.by_model(m).qualified_name}")[0][0] for m in GRAPH_PART)
    assert replica["nodes"] == rows
    [[drove]] = graph.dialect.run("MATCH (:Driver)-[r:DROVE]->(:Tractor) RETURN count(r)")
    assert replica["relationships"] > drove > 0

    bench.sync("timeline", entities=TIMELINE_PART)
    held = timeline.size(bench.catalog)
    assert held["edges"] > 0 and held["entity nodes"] > 0  # in the same database as the replica

    assert graph.size(bench.catalog) == replica

    # Clearing the timeline (its edges first, in bounded transactions) leaves the replica beside it.
    timeline.clear(bench.catalog)
    assert timeline.size(bench.catalog) == {"edges": 0, "entity nodes": 0}
    assert graph.size(bench.catalog) == replica


def _replica_deleting_in_small_batches(bench: StoreBench, monkeypatch: pytest.MonkeyPatch) -> GraphStore:
    """A fresh replica of GRAPH_PART whose deletes run 3 relationships or nodes a transaction."""
    monkeypatch.setattr(neo4j_dialect, "DELETE_BATCH", 3)
    bench.holding_only("graph", GRAPH_PART)
    return bench.store("graph")


def _two_driven_tractors(graph: GraphStore) -> list[str]:
    driven = graph.dialect.run("MATCH (t:Tractor)<-[:DROVE]-() RETURN DISTINCT t.key ORDER BY t.key LIMIT 2")
    return [key for [key] in driven]


def test_removing_a_label_on_neo4j_takes_every_relationship_in_bounded_transactions(
    on_neo4j: None, offline_embedder: None, bench: StoreBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deleting nodes with DETACH DELETE holds all their relationships in one transaction: at
    # scale 0.2 a rebuild passed Neo4j's transaction memory limit that way.
    graph = _replica_deleting_in_small_batches(bench, monkeypatch)
    run = graph.dialect.run
    [[drivers]] = run("MATCH (n:Driver) RETURN count(n)")
    [[touching]] = run("MATCH (:Tractor)-[r]-() RETURN count(r)")
    assert touching > 3 * neo4j_dialect.DELETE_BATCH  # several transactions' worth, both directions
    assert run("MATCH (:Driver)-[r:DROVE]->(:Tractor) RETURN count(r)")[0][0] > 0

    graph.dialect.delete_label("Tractor")

    assert run("MATCH (n:Tractor) RETURN count(n)") == [[0]]
    assert run("MATCH ()-[r:DROVE]->() RETURN count(r)") == [[0]]
    assert run("MATCH (n:Driver) RETURN count(n)") == [[drivers]]


def test_a_sync_deleting_rows_on_neo4j_takes_their_relationships_in_bounded_transactions(
    on_neo4j: None, offline_embedder: None, bench: StoreBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same hazard as a label's removal: a deleted tractor row takes every row's relationship
    # to it (at scale 1, thousands per tractor).
    graph = _replica_deleting_in_small_batches(bench, monkeypatch)
    run = graph.dialect.run
    gone = _two_driven_tractors(graph)
    [[tractors]] = run("MATCH (t:Tractor) RETURN count(t)")
    [[touching]] = run("MATCH (t:Tractor)-[r]-() WHERE t.key IN $keys RETURN count(r)", {"keys": gone})
    [[elsewhere]] = run("MATCH (t:Tractor)-[r]-() WHERE NOT t.key IN $keys RETURN count(r)", {"keys": gone})
    assert len(gone) == 2 and touching > 3 * neo4j_dialect.DELETE_BATCH

    graph.begin(bench.conn)
    graph.delete(bench.catalog.by_model("tractors"), gone)

    assert run("MATCH (t:Tractor) WHERE t.key IN $keys RETURN count(t)", {"keys": gone}) == [[0]]
    assert run("MATCH (t:Tractor) RETURN count(t)") == [[tractors - 2]]
    assert run("MATCH (t:Tractor)-[r]-() RETURN count(r)") == [[elsewhere]]


class _Died(Exception):
    pass


@pytest.mark.parametrize("dies", ["after parking", "after the relationships"])
def test_a_sync_dying_inside_a_neo4j_delete_loses_no_relationship(
    dies: str, on_neo4j: None, offline_embedder: None, bench: StoreBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Neo4j deletes in many transactions of its own, while the relationships other rows hold to
    # the deleted nodes are parked in PostgreSQL (to come back with the rows). A sync that dies
    # between the two commits must, run again, leave what an uninterrupted delete leaves: each
    # relationship parked once. "after the relationships" is the worst case (both passes over
    # them done, the nodes left); "after parking" dies before the graph is touched.
    tractors = bench.catalog.by_model("tractors")
    graph = _replica_deleting_in_small_batches(bench, monkeypatch)
    gone = _two_driven_tractors(graph)
    graph.delete(tractors, gone)
    bench.conn.commit()
    uninterrupted = fingerprints.graph(graph, bench.conn)
    assert sum(n for (_, rel_type, *_), n in uninterrupted["waiting"].items() if rel_type == "DROVE") > 0

    graph = _replica_deleting_in_small_batches(bench, monkeypatch)
    passes, real = [], graph.dialect._in_transactions
    dies_before = {"after parking": 0, "after the relationships": 2}[dies]

    def dying(query: str, params: dict | None = None) -> None:
        if len(passes) == dies_before:
            raise _Died(dies)
        passes.append(query)
        real(query, params)

    monkeypatch.setattr(graph.dialect, "_in_transactions", dying)
    with pytest.raises(_Died):
        graph.delete(tractors, gone)
    bench.conn.rollback()  # as the sync's connection does when it dies
    monkeypatch.setattr(graph.dialect, "_in_transactions", real)
    graph.delete(tractors, gone)  # the next sync reads the same deletions again
    bench.conn.commit()

    again = fingerprints.graph(graph, bench.conn)
    assert again == uninterrupted, fingerprints.difference(again, uninterrupted)
