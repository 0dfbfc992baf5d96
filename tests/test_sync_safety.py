"""The sync engine off the happy path: a process that dies between writing a store and moving its
watermark, relationships whose other node arrives later, two writers of one store at once,
keys of several columns, and a row a store cannot take. The oracle is always the same: what
a fresh rebuild from PostgreSQL puts in the store."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from psycopg2.extras import RealDictCursor

from hubs.db import connect
from hubs.sync import engine, state
from hubs.sync.cache import cache_key
from hubs.sync.engine import SyncFailed
from hubs.sync.feed import Change
from hubs.sync.graph import pending
from hubs.sync.records import join_key, key_of
from tests import fingerprints
from tests.conftest import StoreBench


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, nothing uncommitted survives."""


def failpoints(monkeypatch: pytest.MonkeyPatch, name: str, crash_at: int | None = None) -> Counter:
    """Counts passes through the engine's failpoint `name`, raising Crash at pass `crash_at`."""
    passes: Counter = Counter()

    def failpoint(point: str) -> None:
        if point == name:
            passes[point] += 1
            if passes[point] == crash_at:
                raise Crash(point)

    monkeypatch.setattr(engine, "failpoint", failpoint)
    return passes


def restart_process(bench: StoreBench) -> None:
    """What a new process has after the old one died: fresh connections, nothing in memory."""
    bench.release()
    bench.conn.close()
    bench.conn = connect(bench.settings)


def assert_like_a_rebuild(bench: StoreBench, kind: str, held: dict) -> None:
    bench.sync(kind, full=True)
    rebuilt = fingerprints.OF[kind](bench.store(kind), bench.conn)
    assert held == rebuilt, fingerprints.difference(held, rebuilt)


def test_a_crash_between_a_write_and_its_watermark_loses_no_relationship(
    graph_backend: str, bench: StoreBench, offline_embedder: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = failpoints(monkeypatch, "sync.graph.written")
    bench.sync("graph", full=True)
    reference = fingerprints.graph(bench.store("graph"), bench.conn)
    chunks = passes["sync.graph.written"]
    assert chunks > 10

    # Late in a rebuild: most entities have moved their watermarks, the last chunk is written.
    failpoints(monkeypatch, "sync.graph.written", crash_at=chunks - 1)
    with pytest.raises(Crash):
        bench.sync("graph", full=True)
    restart_process(bench)
    failpoints(monkeypatch, "sync.graph.written")
    bench.sync("graph")
    recovered = fingerprints.graph(bench.store("graph"), bench.conn)
    assert recovered == reference, fingerprints.difference(recovered, reference)


def test_a_relationship_waits_in_postgresql_for_a_node_that_arrives_later(
    bench: StoreBench, offline_embedder: None
) -> None:
    # Insights cite loads, tractors, decisions ... (EVIDENCED_BY); synced alone into an empty
    # graph (the server is the session's), none of those is there yet.
    graph = bench.store("graph")
    graph.begin(bench.conn)
    graph.clear(bench.catalog)
    bench.conn.commit()
    bench.sync("graph", entities=["insights"])
    cited = "select count(*) from hubs_meta.graph_pending_edges where owner like 'Insight:%%'"
    before = bench.sql(cited)[0][0]
    assert before > 0, "the insights' relationships should wait for their other nodes"
    bench.sync("graph")
    assert bench.sql(cited)[0][0] < before
    assert_like_a_rebuild(bench, "graph", fingerprints.graph(bench.store("graph"), bench.conn))


def test_a_row_landed_again_after_a_delete_gets_the_relationships_that_cite_it_back(
    bench: StoreBench, offline_embedder: None
) -> None:
    store = bench.synced("graph")
    [[owner, target, table]] = store.dialect.run(
        "MATCH (i:Insight)-[:EVIDENCED_BY]->(t:Load) RETURN i.key, t.key, 'loads' LIMIT 1"
    )
    loads = bench.catalog.by_model(table)
    with bench.conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("select * from hub2_openhaul.loads where load_number = %s", (target,))
        row = dict(cur.fetchone())
    dangling = pending.count(bench.conn)  # references to rows the small dataset does not have
    store.delete(loads, [target])
    bench.conn.commit()
    cited = "MATCH (:Insight {key: $i})-[r:EVIDENCED_BY]->(:Load {key: $t}) RETURN count(r)"
    assert store.dialect.run(cited, {"i": owner, "t": target}) == [[0]]
    assert pending.count(bench.conn) > dangling

    store.upsert(loads, [Change(target, row, [])])
    bench.conn.commit()
    assert store.dialect.run(cited, {"i": owner, "t": target}) == [[1]]
    assert pending.count(bench.conn) == dangling


def test_two_rebuilds_at_once_write_the_store_once(bench: StoreBench, offline_embedder: None) -> None:
    # The lock lives in PostgreSQL, the same for either graph server: FalkorDB is enough here.
    bench.sync("graph", full=True)
    reference = fingerprints.graph(bench.store("graph"), bench.conn)
    bench.release()
    said: list[str] = []
    errors: list[BaseException] = []

    def rebuild(notify: Callable[[str], object]) -> None:
        second = StoreBench()
        try:
            engine.sync(second.store("graph"), second.conn, second.catalog, full=True, notify=notify)
        except BaseException as exc:
            errors.append(exc)
        finally:
            second.close()

    runs = [threading.Thread(target=rebuild, args=(said.append,)) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=600)
    assert not errors, errors
    assert any("waiting for the graph store: another sync is writing it" in line for line in said), said
    held = fingerprints.graph(bench.store("graph"), bench.conn)
    assert held == reference, fingerprints.difference(held, reference)


def test_keys_of_several_columns_stay_apart_in_every_store(bench: StoreBench, offline_embedder: None) -> None:
    factoring = bench.catalog.by_model("factoring_assignments")
    with bench.conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute("select * from hub5_financial.factoring_assignments limit 1")
        row = dict(cur.fetchone())
    bench.conn.commit()
    one = {**row, "schedule_number": "S9|OT|X", "entity_code": "OT", "invoice_number": "I"}
    two = {**row, "schedule_number": "S9", "entity_code": "OT", "invoice_number": "X|OT|I"}
    assert key_of(factoring, one) != key_of(factoring, two)
    assert join_key(["a\\", "b"]) != join_key(["a", "\\b"])

    store = bench.synced("graph")
    store.upsert(factoring, [Change(key_of(factoring, r), r, []) for r in (one, two)])
    bench.conn.rollback()  # their invoices do not exist: leave no waiting relationships behind
    found = store.dialect.run(
        "MATCH (n:FactoringAssignment) WHERE n.key IN $keys RETURN count(n)",
        {"keys": [key_of(factoring, one), key_of(factoring, two)]},
    )
    assert found == [[2]]

    [entry] = bench.catalog.by_model("ar_invoices").cache
    first = cache_key(entry, {"entity_code": "A:B", "invoice_number": "C"})
    second = cache_key(entry, {"entity_code": "A", "invoice_number": "B:C"})
    assert first != second


def test_a_row_the_store_cannot_take_is_named_with_its_file_and_the_rest_syncs(
    bench: StoreBench, offline_embedder: None
) -> None:
    insights = bench.catalog.by_model("insights")
    [(insight, seq)] = bench.sql(
        "select insight_id::text, _landing_seq from hub1_command.insights order by insight_id limit 1"
    )
    # What staging now refuses, written straight into the hub table: the graph cannot read it.
    bench.sql("update hub1_command.insights set evidence = '[1]' where insight_id = %s", (insight,))
    with pytest.raises(SyncFailed) as failed:
        bench.sync("graph", full=True)
    [failure] = failed.value.failures
    assert (failure.entity, failure.key) == ("hub1_command.insights", insight)
    assert failure.source and failure.source.startswith("hub1_command.insights.")
    assert "AttributeError" in failure.error
    assert {r.entity for r in failed.value.reports} >= {"tractors", "loads", "goals"}
    assert state.read(bench.conn, "graph", insights.model).landing_seq < seq

    bench.sql("update hub1_command.insights set evidence = '[]' where insight_id = %s", (insight,))
    bench.sync("graph")
    assert bench.run_check("G2_relationship_integrity").passed

    tractor = bench.sql("select unit_number from hub3_origin.tractors order by 1 limit 1")[0][0]
    bench.sql("update hub3_origin.tractors set in_service_date = '2024-01-01 BC' where unit_number = %s", (tractor,))
    with pytest.raises(SyncFailed) as unreadable:
        bench.sync("cache", full=True)
    [failure] = unreadable.value.failures
    assert (failure.store, failure.entity, failure.key) == ("cache", "hub3_origin.tractors", tractor)
    assert "year" in failure.error and failure.source

    # An entity without history is read straight from its landing-sequence index, chunk by chunk.
    trailer = bench.sql("select trailer_number from hub3_origin.trailers order by 1 limit 1")[0][0]
    bench.sql("update hub3_origin.trailers set purchase_date = '2024-01-01 BC' where trailer_number = %s", (trailer,))
    with pytest.raises(SyncFailed) as streamed:
        bench.sync("graph", entities=["trailers"], full=True)
    [failure] = streamed.value.failures
    assert (failure.store, failure.entity, failure.key) == ("graph", "hub3_origin.trailers", trailer)
    assert "year" in failure.error and failure.source


def test_a_store_step_that_fails_names_the_row_in_the_run_and_is_not_retried(
    bench: StoreBench, offline_embedder: None
) -> None:
    from hub_assets.runner import run_job

    bench.synced("graph")
    [(insight,)] = bench.sql("select insight_id::text from hub1_command.insights order by insight_id limit 1")
    bench.sql("update hub1_command.insights set evidence = '[1]' where insight_id = %s", (insight,))
    bench.sql("delete from hubs_meta.sync_state where store = 'graph' and entity = 'insights'")
    outcome = run_job("graph_store", quiet=True)
    assert not outcome.success
    [failure] = [f for f in outcome.failures if f.startswith("sync_graph")]
    assert f"hub1_command.insights key {insight} (landed from hub1_command.insights." in failure, failure
    assert "Exceeded max_retries" not in failure


def test_an_entity_with_history_streams_each_changed_key_once_window_by_window(bench: StoreBench) -> None:
    """The change feed of an SCD-2 entity reads windows of at most `chunk` landed rows: every key
    comes once (at the window of its last change), windows only move forward, and together they
    cover every current key up to the newest landed version."""
    from hubs.sync import feed

    trips = next(e for e in bench.catalog.entities if e.model == "trips")
    # A version of an early key landed again, last: its key must come once, in the last window.
    early = bench.sql("select trip_number from hub3_origin.trips order by _landing_seq limit 1")[0][0]
    bench.sql(
        "update hub3_origin.trips set _landing_seq = nextval('landing.landing_seq') where trip_number = %s", (early,)
    )
    newest = bench.sql(
        "select greatest((select max(_landing_seq) from hub3_origin.trips),"
        " (select max(_landing_seq) from hub3_origin.trips_history))"
    )[0][0]
    seen: Counter[str] = Counter()
    marks: list[int] = []
    for batch, upto in feed.changes(bench.conn, trips, 0, {}, versions=True, chunk=7):
        assert 0 < len(batch) <= 7
        seen.update(change.key for change in batch)
        marks.append(upto)
    bench.conn.rollback()
    current = {join_key(row) for row in bench.sql("select trip_number from hub3_origin.trips")}
    assert set(seen) == current and max(seen.values()) == 1
    assert marks == sorted(set(marks)) and marks[-1] == newest and len(marks) > 1
    last = list(feed.changes(bench.conn, trips, marks[-2], {}, versions=True, chunk=7))
    bench.conn.rollback()
    assert early in {c.key for batch, _ in last for c in batch}
