"""X2-X4: the derived stores checked against PostgreSQL. Each check passes on freshly synced
stores and fails, naming the offending keys, on stores (or PostgreSQL rows) broken on purpose.
X2 and X3 need no graph server; X4 runs on FalkorDB and on Neo4j, over a timeline synced once per
server for the module (on Neo4j a sync takes 15 s or more), each test repairing what it broke."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from graphiti_core.driver.driver import GraphProvider
from qdrant_client import models

from hubs.checks.base import CheckOutcome
from hubs.embeddings import OpenAIEmbedder
from hubs.sync import state
from hubs.sync.cache import CacheStore, filter_column, writes
from hubs.sync.engine import sync
from hubs.sync.feed import Change, current_rows
from hubs.sync.records import key_of, normalize
from hubs.sync.timeline import TimelineStore
from hubs.sync.vectors import VectorStore, point_id, text_of
from tests.conftest import StoreBench, module_bench
from tests.fake_openai import FakeOpenAI

KEY = "sk-test-hubs"
X2, X3, X4 = "X2_postgres_qdrant_parity", "X3_postgres_redis_parity", "X4_postgres_graphiti_parity"


def offending(outcome: CheckOutcome) -> str:
    return "\n".join(outcome.offending)


def bump(bench: StoreBench, table: str, where: str, params: tuple = ()) -> None:
    """Mark rows as changed for the change feed, as a new landing would."""
    bench.sql(f"update {table} set _landing_seq = (select max(_landing_seq) + 1 from {table}) where {where}", params)


def resync(bench: StoreBench, kind: str, *models_: str) -> None:
    """Rewrite the named entities from PostgreSQL (their watermark back to zero): the repair."""
    store = bench.store(kind)
    for model in models_:
        state.write(bench.conn, store.name, model, state.Watermark())
    bench.sync(kind, entities=list(models_))


@pytest.fixture
def openai_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """Stores opened from now on embed with OpenAI's text-embedding-3-small, served by the fake."""
    with FakeOpenAI(api_key=KEY) as fake:
        monkeypatch.delenv("HUBS_EMBEDDER", raising=False)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        yield fake


# -- X2: Qdrant ------------------------------------------------------------------------------------


def test_x2_passes_on_freshly_synced_vectors(bench: StoreBench, offline_embedder: None) -> None:
    bench.synced("vectors")
    outcome = bench.run_check(X2)
    assert outcome.passed, outcome.offending
    assert outcome.counts["points"] == outcome.counts["embeddable"] > 0


def test_x2_names_missing_stale_and_stray_points(bench: StoreBench, offline_embedder: None) -> None:
    store: VectorStore = bench.synced("vectors")
    orders = bench.catalog.by_model("maintenance_orders")
    collection = store.collection(orders)
    gone, hashed, relabelled, remodelled, changed, deleted = (
        r[0] for r in bench.sql("select ro_number from hub3_origin.maintenance_orders order by ro_number limit 6")
    )
    store.client.delete(collection, points_selector=models.PointIdsList(points=[point_id(orders, gone)]))
    store.client.set_payload(collection, {"content_hash": "0" * 64}, points=[point_id(orders, hashed)])
    store.client.set_payload(collection, {"status": "blocked"}, points=[point_id(orders, relabelled)])
    store.client.set_payload(collection, {"model": "another-model"}, points=[point_id(orders, remodelled)])
    stray = point_id(orders, "RO-99999")
    store.client.upsert(
        collection,
        [
            models.PointStruct(
                id=stray,
                vector=store.embedder.embed_one("a ghost"),
                payload={"entity": orders.model, "key": "RO-99999"},
            )
        ],
    )
    # PostgreSQL moves on without a sync: a text changes, a row goes
    bench.sql("update hub3_origin.maintenance_orders set complaint = 'brakes squeal' where ro_number = %s", (changed,))
    bench.sql("delete from hub3_origin.maintenance_orders where ro_number = %s", (deleted,))

    outcome = bench.run_check(X2)
    assert not outcome.passed
    text = offending(outcome)
    assert f"maintenance_orders {gone}: no point" in text
    assert f"maintenance_orders {hashed}: point embeds an older text" in text
    assert f"maintenance_orders {relabelled}: payload differs from the row in status" in text
    assert f"maintenance_orders {remodelled}: embedded with another-model" in text
    assert f"maintenance_orders {changed}: point embeds an older text" in text
    assert f"maintenance_orders {deleted}: point {point_id(orders, deleted)} in {collection} for no current row" in text
    assert f"maintenance_orders RO-99999: point {stray} in {collection} for no current row" in text
    assert outcome.counts["missing"] == 1 and outcome.counts["stale"] == 5 and outcome.counts["stale_payload"] == 1


def test_vectors_reembed_only_changed_text(bench: StoreBench, openai_fake: FakeOpenAI) -> None:
    store: VectorStore = bench.synced("vectors")
    assert isinstance(store.embedder, OpenAIEmbedder)
    assert openai_fake.embedding_requests, "the rebuild embedded nothing"
    orders = bench.catalog.by_model("maintenance_orders")
    retexted, relabelled, untouched = (
        r[0] for r in bench.sql("select ro_number from hub3_origin.maintenance_orders order by ro_number limit 3")
    )
    bench.sql(
        "update hub3_origin.maintenance_orders set complaint = complaint || ' (again)' where ro_number = %s",
        (retexted,),
    )
    bench.sql("update hub3_origin.maintenance_orders set status = 'canceled' where ro_number = %s", (relabelled,))
    bump(bench, "hub3_origin.maintenance_orders", "ro_number = any(%s)", ([retexted, relabelled, untouched],))
    openai_fake.reset()

    reports = bench.sync("vectors")

    assert {r.entity: r.upserted for r in reports if r.upserted} == {"maintenance_orders": 3}
    (row,) = current_rows(bench.conn, orders, where=f"ro_number = '{retexted}'")
    bench.conn.rollback()
    sent = [text for request in openai_fake.embedding_requests for text in request.body["input"]]
    assert sent == [text_of(orders, row)]  # the new text only: same text, same hash, no call
    payloads = store.points(orders)
    assert payloads[point_id(orders, relabelled)]["status"] == "canceled"  # payload refreshed all the same
    outcome = bench.run_check(X2)
    assert outcome.passed, outcome.offending


def test_switching_the_embedding_model_fills_fresh_collections(bench: StoreBench, offline_embedder: None) -> None:
    offline: VectorStore = bench.synced("vectors")
    holding = [e for e in bench.catalog.entities if offline.holds(e)]
    before = {offline.collection(e): offline.client.count(offline.collection(e)).count for e in holding}
    with FakeOpenAI(api_key=KEY) as fake:
        switched = VectorStore(offline.client, OpenAIEmbedder(api_key=KEY, base_url=fake.base_url))
        switched.clear(bench.catalog)  # what an earlier test of the session may have left for this model
        assert switched.name != offline.name  # its own watermark: the first sync reads everything

        sync(switched, bench.conn, bench.catalog)  # an ordinary sync, not a rebuild

        for entity in holding:
            old, new = offline.collection(entity), switched.collection(entity)
            assert new != old
            assert offline.client.get_collection(new).config.params.vectors.size == 1536
            assert offline.client.get_collection(old).config.params.vectors.size == 256
            assert offline.client.count(new).count == offline.client.count(old).count == before[old]
        bench.opened["vectors"] = switched
        try:
            outcome = bench.run_check(X2)
        finally:
            bench.opened["vectors"] = offline
    assert outcome.passed, outcome.offending
    assert "text-embedding-3-small" in outcome.summary
    assert bench.run_check(X2).passed  # the offline model's collections are still whole


# -- X3: Redis -------------------------------------------------------------------------------------


def test_x3_passes_on_a_freshly_synced_cache(bench: StoreBench) -> None:
    bench.synced("cache")
    outcome = bench.run_check(X3)
    assert outcome.passed, outcome.offending
    assert outcome.counts["present"] == outcome.counts["expected"] > 0
    assert outcome.counts["stale"] == outcome.counts["missing"] == 0


def test_x3_names_altered_values_ttls_and_stale_keys(bench: StoreBench) -> None:
    store: CacheStore = bench.synced("cache")
    redis = store.client
    customers = bench.catalog.by_model("customers")
    altered, persisted, prolonged, dropped = (
        r[0] for r in bench.sql("select customer_code from hub2_openhaul.customers order by 1 limit 4")
    )
    redis.set(f"customer:{altered}:credit", json.dumps({"status": "closed"}), keepttl=True)
    redis.persist(f"customer:{persisted}:credit")
    redis.expire(f"customer:{prolonged}:credit", 10 * 86400)
    redis.delete(f"customer:{dropped}:credit")
    redis.srem(store.index_key(customers, dropped), f"customer:{dropped}:credit")
    redis.set("customer:NOSUCH:credit", "{}", ex=3600)
    redis.sadd(store.index_key(customers, "GHOST"), "customer:GHOST:credit")
    redis.sadd("hubs:index:Retired:7", "retired:7")
    try:
        outcome = bench.run_check(X3)
    finally:
        redis.delete("hubs:index:Retired:7")  # no entity's rebuild would remove it
    assert not outcome.passed
    text = offending(outcome)
    assert f"customers {altered}: customer:{altered}:credit holds" in text
    assert f"customers {persisted}: customer:{persisted}:credit has no TTL" in text
    assert f"customers {prolonged}: customer:{prolonged}:credit expires in" in text
    assert f"customers {dropped}: customer:{dropped}:credit was never cached" in text
    assert "customers: customer:NOSUCH:credit is cached for no current row" in text
    assert "customers GHOST: index hubs:index:Customer:GHOST of no current row writing keys" in text
    assert "Retired 7: index hubs:index:Retired:7 of an entity the cache does not hold" in text
    assert outcome.counts["differing"] == 1 and outcome.counts["bad_ttl"] == 2


def test_x3_names_keys_of_rows_that_changed_or_went(bench: StoreBench) -> None:
    bench.synced("cache")
    assignment, unit = bench.sql(
        "select assignment_id, unit_number from hub3_origin.driver_assignments"
        " where valid_to is null and seat = 'primary' order by unit_number limit 1"
    )[0]
    bench.sql("update hub3_origin.driver_assignments set valid_to = now() where assignment_id = %s", (assignment,))
    outcome = bench.run_check(X3)
    assert not outcome.passed
    assert f"driver_assignments: truck:{unit}:driver is cached for no current row" in offending(outcome)

    bump(bench, "hub3_origin.driver_assignments", "assignment_id = %s", (assignment,))
    bench.sync("cache")  # the sync removes the key of the closed assignment
    outcome = bench.run_check(X3)
    assert outcome.passed, outcome.offending

    usdot, kind = bench.sql(
        "delete from hub6_corporate.fmcsa_authorities where ctid = (select ctid from"
        " hub6_corporate.fmcsa_authorities where valid_to is null order by usdot_number, authority_type limit 1)"
        " returning usdot_number, authority_type"
    )[0]
    outcome = bench.run_check(X3)
    assert not outcome.passed
    assert f"fmcsa_authorities: authority:{usdot}:{kind} is cached for no current row" in offending(outcome)


def test_x3_counts_expired_keys_without_failing(bench: StoreBench) -> None:
    """A key gone while its row's index still lists it has expired (TTLs are the cache's design)."""
    store: CacheStore = bench.synced("cache")
    code = bench.sql("select customer_code from hub2_openhaul.customers order by 1 limit 1")[0][0]
    store.client.delete(f"customer:{code}:credit")
    outcome = bench.run_check(X3)
    assert outcome.passed, outcome.offending
    assert outcome.counts["expired"] == 1
    assert outcome.counts["present"] == outcome.counts["expected"] - 1


def test_cache_hand_over_in_one_batch_keeps_the_new_holder(bench: StoreBench) -> None:
    """A unit's new primary assignment and the closing of the old one, synced together in that
    order: the old row's stale key must not delete what the new row has just written."""
    store: CacheStore = bench.synced("cache")
    assignments = bench.catalog.by_model("driver_assignments")
    extra = store.extra_columns(assignments)
    qualifying = [r for r in current_rows(bench.conn, assignments, extra) if writes(assignments, r)]
    bench.conn.rollback()
    current = qualifying[0]
    (cache_key,) = writes(assignments, current)
    handover = datetime.now(UTC)
    closed = {**current, "valid_to": handover, filter_column(0): False}
    successor = {**current, "assignment_id": "00000000-0000-4000-8000-000000000001", "driver_code": "ZNEW"}
    successor["valid_from"] = handover

    store.upsert(
        assignments,
        [Change(key_of(assignments, successor), successor), Change(key_of(assignments, closed), closed)],
    )

    value = store.client.get(cache_key)
    assert value is not None, f"{cache_key} was deleted by the closing assignment"
    assert json.loads(value)["driver_code"] == "ZNEW"
    assert not store.client.smembers(store.index_key(assignments, key_of(assignments, closed)))
    assert store.client.smembers(store.index_key(assignments, key_of(assignments, successor))) == {cache_key.encode()}


# -- X4: Graphiti ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["falkordb", "neo4j"])
def timeline_bench(
    request: pytest.FixtureRequest, postgres_server: str, stores_template: str, hubs_home: Path
) -> Iterator[StoreBench]:
    """A private copy of the small dataset and its timeline, synced once per graph server."""
    with module_bench(request, postgres_server, "x4") as bench:
        bench.synced("timeline")
        yield bench


def set_edge_time(store: TimelineStore, uuid: str, prop: str, value: str | None) -> None:
    """valid_at / invalid_at as the server keeps them (DateTime on Neo4j, ISO text on FalkorDB)."""
    expression = "datetime($value)" if store.driver.provider == GraphProvider.NEO4J and value else "$value"
    store.query(f"MATCH ()-[e:RELATES_TO {{uuid: $uuid}}]->() SET e.{prop} = {expression}", uuid=uuid, value=value)


def test_x4_passes_on_a_freshly_synced_timeline(timeline_bench: StoreBench) -> None:
    outcome = timeline_bench.run_check(X4)
    assert outcome.passed, outcome.offending
    assert outcome.counts["edges"] == outcome.counts["versions"] > 0


def test_x4_names_missing_shifted_and_stray_edges(timeline_bench: StoreBench) -> None:
    bench = timeline_bench
    store: TimelineStore = bench.store("timeline")
    loads, assignments = bench.catalog.by_model("loads"), bench.catalog.by_model("driver_assignments")
    edges = sorted(store.edges(loads), key=lambda e: (e["key"], e["valid_at"]))
    deleted = edges[0]
    shifted = next(e for e in edges if e["invalid_at"] and e["key"] != deleted["key"])
    moved = min(store.edges(assignments), key=lambda e: (e["key"], e["valid_at"]))
    store.query("MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() DELETE e", uuid=deleted["uuid"])
    later = normalize(datetime.fromisoformat(shifted["invalid_at"]) + timedelta(days=1))
    set_edge_time(store, shifted["uuid"], "invalid_at", later)
    store.query("MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() SET e.entity_key = 'NOSUCH'", uuid=moved["uuid"])
    try:
        outcome = bench.run_check(X4)
        assert not outcome.passed
        text = offending(outcome)
        assert f"loads {deleted['key']}: no edge for the version from {deleted['valid_at']}" in text
        assert (
            f"loads {shifted['key']}: version from {shifted['valid_at']} ends {shifted['invalid_at']}"
            f" in PostgreSQL, its edge's invalid_at is {later}"
        ) in text
        assert f"driver_assignments NOSUCH: edge {moved['uuid']}" in text and "a key PostgreSQL does not have" in text
        assert f"driver_assignments {moved['key']}: no edge for the version" in text
    finally:
        store.query(
            "MATCH ()-[e:RELATES_TO {uuid: $uuid}]->() SET e.entity_key = $key", uuid=moved["uuid"], key=moved["key"]
        )
        resync(bench, "timeline", "loads")
    assert bench.run_check(X4).passed


def test_x4_names_versions_postgres_gained_or_lost(timeline_bench: StoreBench) -> None:
    bench = timeline_bench
    history = "hub2_openhaul.loads_history"
    (load,) = bench.sql(f"select load_number from {history} group by 1 having count(*) > 2 order by 1 limit 1")[0]
    bench.sql(
        f"create table public.saved_version as select * from {history}"
        f" where load_number = %s and valid_to is not null order by valid_from desc limit 1",
        (load,),
    )
    lost = normalize(bench.sql("select valid_from from public.saved_version")[0][0])
    bench.sql(
        f"delete from {history} h using public.saved_version s"
        " where (h.load_number, h.valid_from) = (s.load_number, s.valid_from)"
    )
    bench.sql(
        f"create table public.added_version as select * from {history} where load_number = %s"
        " order by valid_from limit 1",
        (load,),
    )
    bench.sql("update public.added_version set valid_to = valid_from, valid_from = valid_from - interval '1 day'")
    gained = normalize(bench.sql("select valid_from from public.added_version")[0][0])
    bench.sql(f"insert into {history} select * from public.added_version")
    try:
        outcome = bench.run_check(X4)
        assert not outcome.passed
        text = offending(outcome)
        assert f"loads {load}: no edge for the version from {gained}" in text
        assert f"loads {load}: edge" in text and f"valid_at {lost} matches no version of the key" in text
    finally:
        bench.sql(
            f"delete from {history} h using public.added_version a"
            " where (h.load_number, h.valid_from) = (a.load_number, a.valid_from)"
        )
        bench.sql(f"insert into {history} select * from public.saved_version")
        bench.sql("drop table public.saved_version, public.added_version")
    assert bench.run_check(X4).passed
