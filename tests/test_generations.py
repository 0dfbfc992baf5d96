"""Generations of the derived stores (hubs/sync/generations.py): a generation is built beside the
published one, the readers (Recall, the checks, an opened store) see only the published one, and
publishing and rolling back flip which one they read; a generation whose gate said no is never
published; old generations are dropped."""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from falkordb import FalkorDB

from hubs.catalog import Entity, load_catalog
from hubs.checks.base import REGISTRY, CheckContext
from hubs.recall.memory import Memory
from hubs.recall.model import RecallError
from hubs.sync import generations, publishing, record_generation
from hubs.sync import timeline_generation as timeline_generations
from hubs.sync.cache import CacheStore
from hubs.sync.engine import sync
from hubs.sync.feed import current_rows
from hubs.sync.graph import generation as graph_generations
from hubs.sync.graph import pending
from hubs.sync.records import key_of
from hubs.sync.stores import opened
from hubs.sync.vectors import text_of
from tests.conftest import StoreBench
from tests.helpers import execute, query


def entity(bench: StoreBench, model: str) -> Entity:
    return next(e for e in bench.catalog.entities if e.model == model)


def neighbours(memory: Memory, tractor: str) -> Any:
    """What Recall's graph answers about a tractor (None: the graph has no such node)."""
    try:
        found = memory.neighbours("tractor", tractor, source="graph")
    except RecallError as exc:
        assert exc.status == 404, exc
        return None
    assert found.provenance.store == "graph"
    return sorted((r.type, r.start.key, r.end.key, r.owner) for r in found.relationships)


def fresh_context(bench: StoreBench) -> CheckContext:
    """A check run's context: its stores opened afresh (the published generation)."""
    return CheckContext(bench.conn, bench.catalog, bench.settings)


def nodes_seen_by_checks(bench: StoreBench, label: str) -> int:
    context = fresh_context(bench)
    try:
        return context.graph.run(f"MATCH (n:{label}) RETURN count(n)")[0][0]
    finally:
        context.close()


def label_check(bench: StoreBench) -> Any:
    context = fresh_context(bench)
    try:
        return next(c for c in REGISTRY if c.name == "G8_label_and_type_set").run(context)
    finally:
        context.close()


def test_a_graph_generation_is_published_and_rolled_back_without_a_rebuild(
    graph_backend: str, bench: StoreBench, offline_embedder: None
) -> None:
    bench.sync("graph", full=True)
    tractors = entity(bench, "tractors")
    graph = bench.store("graph").dialect
    [[key, _]] = graph.run("MATCH (n:Tractor)-[r]-() RETURN n.key, count(r) AS c ORDER BY c DESC, n.key LIMIT 1")
    nodes = nodes_seen_by_checks(bench, "Tractor")
    with Memory(bench.settings, bench.catalog, freshness_seconds=0) as memory:
        before = neighbours(memory, key)
        assert before and nodes > 1

        waiting = pending.count(bench.conn, 0)
        built = generations.begin(bench.conn, "graph", seeded_from=0)
        copied = graph_generations.seed(bench.conn, bench.settings, 0, built)
        assert copied == (graph_backend == "falkordb")  # Neo4j copies nothing: the first sync fills it
        with opened("graph", bench.settings, bench.catalog, built) as store:
            assert store.name == f"graph@g{built}"
            # a copy and the watermarks it came with agree: a sync of it finds nothing to do
            upserted = sum(r.upserted for r in sync(store, bench.conn, bench.catalog))
            assert (upserted == 0) if copied else (upserted > 0)
            assert pending.count(bench.conn, built) == waiting
            assert store.size(bench.catalog) == bench.store("graph").size(bench.catalog)
            store.begin(bench.conn)
            store.delete(tractors, [key])  # the new generation's different data
            bench.conn.commit()
        # each generation its own pending relationships: the other rows' edges to the tractor wait in its
        assert pending.count(bench.conn, built) > waiting == pending.count(bench.conn, 0)

        # building: every reader still reads generation 0, and sees nothing of the other's
        assert neighbours(memory, key) == before
        assert nodes_seen_by_checks(bench, "Tractor") == nodes
        assert label_check(bench).passed, label_check(bench).summary

        assert generations.publish(bench.conn, "graph", built) == 0
        assert neighbours(memory, key) is None
        assert nodes_seen_by_checks(bench, "Tractor") == nodes - 1

        assert generations.rollback(bench.conn, "graph") == 0
        assert neighbours(memory, key) == before
        assert nodes_seen_by_checks(bench, "Tractor") == nodes

    # a generation its gate refused is never published
    refused = generations.begin(bench.conn, "graph", seeded_from=0)
    generations.fail(bench.conn, "graph", refused, "G1_node_counts: no-go")
    with pytest.raises(generations.GenerationRefused, match="failed"):
        generations.publish(bench.conn, "graph", refused)
    with pytest.raises(generations.GenerationRefused, match="no earlier"):
        generations.rollback(bench.conn, "graph")  # generation 0 is published, nothing before it
    assert generations.published(bench.conn, "graph") == 0

    # only the newest are kept: the withdrawn generation goes, graph and bookkeeping
    assert generations.droppable(bench.conn, "graph", keep=2) == [built]
    graph_generations.drop(bench.conn, bench.settings, built)
    generations.dropped(bench.conn, "graph", [built])
    if graph_backend == "falkordb":
        server = FalkorDB.from_url(bench.settings.effective_falkordb_url)
        assert f"hubs__g{built}" not in server.list_graphs() and "hubs" in server.list_graphs()
    else:  # the generation's labels, types, constraints and indexes are gone from the one database
        with opened("graph", bench.settings, bench.catalog, built) as gone:
            assert gone.size(bench.catalog) == {"nodes": 0, "relationships": 0} and not gone.dialect.schema()
        assert bench.store("graph").size(bench.catalog)["nodes"] > 0
    assert bench.sql("select to_regclass(%s)", (pending.table(built),)) == [(None,)]
    assert not bench.sql("select 1 from hubs_meta.sync_state where store = %s", (f"graph@g{built}",))
    statuses = {g.generation: g.status for g in generations.listed(bench.conn, "graph")}
    assert statuses == {0: "published", built: "dropped", refused: "failed"}
    # a graph never written (a fresh server's) has nothing to copy: its copy starts empty
    never_written = 999  # no graph of this generation on the (session's) server
    fresh = generations.begin(bench.conn, "graph", seeded_from=never_written)
    assert graph_generations.seed(bench.conn, bench.settings, never_written, fresh) is False
    with opened("graph", bench.settings, bench.catalog, fresh) as store:
        assert store.size(bench.catalog)["nodes"] == 0


def semantic(memory: Memory, text: str) -> list[tuple[str, str]]:
    found = memory.search(text, entities=[ORDERS], mode="semantic", k=5)
    assert found.provenance.store == "vectors" and not found.provenance.degraded, found.provenance
    return [(h.entity, h.key) for h in found.hits]


ORDERS = "maintenance_order"


def test_a_vector_generation_is_published_and_rolled_back_without_a_rebuild(
    bench: StoreBench, offline_embedder: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBS_QDRANT_URL", raising=False)
    orders = entity(bench, "maintenance_orders")
    bench.sync("vectors", full=True)
    bench.release()  # local mode: one client per folder at a time
    row = next(r for r in current_rows(bench.conn, orders, {}) if text_of(orders, r))
    key, text = key_of(orders, row), text_of(orders, row)
    bench.conn.commit()
    with Memory(bench.settings, bench.catalog, freshness_seconds=0) as memory:
        before = semantic(memory, text)
        assert before[0] == (ORDERS, key)

        built = publishing.start(bench.conn, bench.settings, bench.catalog, "vectors")
        with opened("vectors", bench.settings, bench.catalog, built) as store:
            assert store.collection(orders).endswith(f"__g{built}")
            assert not any(r.upserted or r.deleted for r in sync(store, bench.conn, bench.catalog))
            store.delete(orders, [key])  # the new generation's different data

        assert semantic(memory, text) == before  # building: read from generation 0
        publishing.publish(bench.conn, bench.settings, "vectors", built)
        after = semantic(memory, text)
        assert (ORDERS, key) not in after and after[0] == before[1]
        publishing.rollback(bench.conn, bench.settings, "vectors")
        assert semantic(memory, text) == before

    assert publishing.prune(bench.conn, bench.settings, bench.catalog, "vectors", keep=1) == [built]
    with opened("vectors", bench.settings, bench.catalog) as store:
        names = {c.name for c in store.client.get_collections().collections}
    assert store.collection(orders) in names and not any(n.endswith(f"__g{built}") for n in names)


def test_a_cache_generation_is_swapped_into_the_readers_database_and_back(
    bench: StoreBench, offline_embedder: None
) -> None:
    bench.sync("cache", full=True)
    # an entity whose keys outlive the test (real-time keys expire within 60 s)
    chosen = next(e for e in bench.catalog.entities if e.cache and min(c.ttl_seconds for c in e.cache) > 600)
    home = bench.store("cache").client  # the readers' database
    row = next(current_rows(bench.conn, chosen, bench.store("cache").extra_columns(chosen)))
    bench.conn.commit()
    key = key_of(chosen, row)
    keys = sorted(k.decode() for k in home.smembers(CacheStore.index_key(chosen, key)))
    before = {k: home.get(k) for k in keys}
    assert keys and all(before.values())

    built = publishing.start(bench.conn, bench.settings, bench.catalog, "cache")
    with opened("cache", bench.settings, bench.catalog, built) as store:
        assert store.name == f"cache@g{built}"
        assert store.client.connection_pool.connection_kwargs["db"] != home.connection_pool.connection_kwargs["db"]
        assert sum(r.upserted for r in sync(store, bench.conn, bench.catalog)) > 0  # filled whole
        store.delete(chosen, [key])  # the new generation's different data
    assert {k: home.get(k) for k in keys} == before  # building: the readers' database is untouched

    assert publishing.publish(bench.conn, bench.settings, "cache", built) == 0
    assert all(home.get(k) is None for k in keys) and home.dbsize() > 0
    with opened("cache", bench.settings, bench.catalog) as published:  # the next sync writes the readers' database
        assert published.name == f"cache@g{built}"
        assert published.client.connection_pool.connection_kwargs["db"] == home.connection_pool.connection_kwargs["db"]

    assert publishing.rollback(bench.conn, bench.settings, "cache") == 0
    assert {k: home.get(k) for k in keys} == before

    assert publishing.prune(bench.conn, bench.settings, bench.catalog, "cache", keep=1) == [built]
    with opened("cache", bench.settings, bench.catalog, built) as gone:
        assert gone.client.dbsize() == 0
    assert {k: home.get(k) for k in keys} == before


def beliefs(memory: Memory, tractor: str) -> list[Any]:
    found = memory.as_of("tractor", tractor, source="timeline")
    assert found.provenance.store == "timeline", found.provenance
    return found.beliefs


def test_a_timeline_generation_is_published_and_rolled_back_without_a_rebuild(
    graph_backend: str, bench: StoreBench, offline_embedder: None
) -> None:
    bench.sync("timeline", full=True)
    tractors = entity(bench, "tractors")
    [[key]] = bench.sql("select unit_number from hub3_origin.tractors order by unit_number limit 1")
    with Memory(bench.settings, bench.catalog, freshness_seconds=0) as memory:
        before = beliefs(memory, key)
        assert before

        built = generations.begin(bench.conn, "timeline", seeded_from=0)
        copied = timeline_generations.seed(bench.conn, bench.settings, bench.catalog, 0, built)
        assert copied == (graph_backend == "falkordb")
        with opened("timeline", bench.settings, bench.catalog, built) as store:
            assert store.group == f"hubs_timeline__g{built}" and store.name == f"timeline@g{built}"
            upserted = sum(r.upserted for r in sync(store, bench.conn, bench.catalog))
            assert (upserted == 0) if copied else (upserted > 0)
            assert store.size(bench.catalog) == bench.store("timeline").size(bench.catalog)
            store.query(  # the new generation's different data: the tractor's beliefs gone
                "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group AND e.entity = $entity"
                " AND e.entity_key = $key DELETE e",
                group=store.group,
                entity=tractors.model,
                key=key,
            )
        assert beliefs(memory, key) == before  # building: read from generation 0

        generations.publish(bench.conn, "timeline", built)
        assert beliefs(memory, key) == []
        generations.rollback(bench.conn, "timeline")
        assert beliefs(memory, key) == before

    timeline_generations.drop(bench.conn, bench.settings, bench.catalog, built)
    with opened("timeline", bench.settings, bench.catalog, built) as gone:
        assert gone.size(bench.catalog) == {"edges": 0, "entity nodes": 0}
    assert bench.store("timeline").size(bench.catalog)["edges"] > 0


def test_a_generation_lists_its_own_names_bare_and_graphiti_names_whole() -> None:
    from hubs.sync.graph.neo4j import Scope

    rows = [["Saga"], ["Entity"], ["Tractor__g2"], ["Tractor__g1"], ["Tractor"]]
    assert Scope(2).listing("CALL db.labels()", rows) == [["Saga"], ["Entity"], ["Tractor"]]


RECORD_DDL = """
create schema landing; create schema hub3_origin; create schema hubs_meta;
create table landing.hub3_origin__tractors (_landing_seq bigint primary key, unit text);
create table hub3_origin.tractors (
    id bigint generated always as identity primary key, unit text unique not null,
    shout text generated always as (upper(unit)) stored
);
create table hub3_origin.trips (trip text primary key, unit text not null references hub3_origin.tractors (unit));
create table hubs_meta.sync_state (store text, entity text, landing_seq bigint, deletion_seq bigint,
    synced_at timestamptz, primary key (store, entity));
insert into landing.hub3_origin__tractors values (1, '6520'), (2, '6521');
insert into hub3_origin.tractors (unit) values ('6520'), ('6521');
insert into hub3_origin.trips values ('T1', '6520');
create table hub3_origin.untouched (k text primary key); insert into hub3_origin.untouched values ('a');
create table hub3_origin.shrunk (k text primary key); insert into hub3_origin.shrunk values ('a'), ('b');
"""


def record(url: str) -> list[tuple]:
    return query(
        url,
        "select 'tractor', id::text, unit, shout from hub3_origin.tractors union all"
        " select 'trip', trip, unit, null from hub3_origin.trips union all"
        " select 'landed', _landing_seq::text, unit, null from landing.hub3_origin__tractors union all"
        " select 'shrunk', k, null, null from hub3_origin.shrunk order by 1, 2",
    )


def phase_writes(url: str, unit: str) -> None:
    """What a phase-1 run does to the record: lands, adds, changes, deletes, makes a new table."""
    execute(
        url,
        f"insert into landing.hub3_origin__tractors values ((select max(_landing_seq) + 1"
        f" from landing.hub3_origin__tractors), '{unit}');"
        f" insert into hub3_origin.tractors (unit) values ('{unit}');"
        " update hub3_origin.trips set unit = '6521'; delete from hub3_origin.tractors where unit = '6520';"
        " create table if not exists hub3_origin.repairs (ro text primary key); insert into hub3_origin.repairs"
        f" values ('{unit}'); delete from hub3_origin.shrunk where k = 'b'",
    )


def test_the_record_is_copied_before_phase_one_and_restored_in_one_transaction(empty_db: str) -> None:
    """Store `postgres` (migration phase 1): the record is written in place; a no-go, an
    unfinished run and a rollback each restore the copy taken before (identity values, generated
    columns, foreign keys and tables made since included), and a derived store that read past
    the restored record is told apart."""
    execute(empty_db, RECORD_DDL)
    catalog = load_catalog()
    original = record(empty_db)
    conn = psycopg2.connect(empty_db)
    try:
        refused = publishing.start(conn, None, catalog, "postgres", note="run a")  # type: ignore[arg-type]
        assert refused == 1 and record_generation.has_copy(conn, 0)
        phase_writes(empty_db, "7001")
        assert record(empty_db) != original
        untouched = "select pg_relation_filenode('hub3_origin.untouched')"
        file_before = query(empty_db, untouched)
        publishing.fail(conn, "postgres", refused, "no-go")
        assert record(empty_db) == original, "a no-go restores the record as it was"
        assert query(empty_db, untouched) == file_before, "a table nothing changed is not rewritten"
        assert query(empty_db, "select count(*) from hub3_origin.repairs") == [(0,)], "a table made since is emptied"

        published = publishing.start(conn, None, catalog, "postgres", note="run b")  # type: ignore[arg-type]
        phase_writes(empty_db, "7002")
        after_b = record(empty_db)
        assert generations.publish(conn, "postgres", published) == 0
        execute(empty_db, "insert into hubs_meta.sync_state values ('graph@g4', 'tractors', 3, 0, now())")
        assert record_generation.ahead(conn, "graph", 4) is False, "the graph read what the record holds"

        unfinished = publishing.start(conn, None, catalog, "postgres", note="run c")  # type: ignore[arg-type]
        phase_writes(empty_db, "7003")
        with pytest.raises(generations.GenerationRefused, match="rollback 1"):
            publishing.start(conn, None, catalog, "postgres")  # type: ignore[arg-type]
        assert publishing.rollback(conn, None, "postgres") == published  # type: ignore[arg-type]
        assert record(empty_db) == after_b, "an unfinished run's writes are undone"
        assert [g.status for g in generations.listed(conn, "postgres") if g.generation == unfinished] == ["failed"]

        assert publishing.rollback(conn, None, "postgres") == 0  # type: ignore[arg-type]
        assert record(empty_db) == original, "the rollback restored the record published before"
        assert record_generation.ahead(conn, "graph", 4), "the graph read landing row 3, which is gone"
        execute(empty_db, "insert into hub3_origin.tractors (unit) values ('8000')")
        assert max(int(i) for kind, i, *_ in record(empty_db) if kind == "tractor") > 4, "identities move on"
    finally:
        conn.close()
