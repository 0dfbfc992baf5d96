"""Recall's search: by meaning (Qdrant) and by words (PostgreSQL full text) fused by RRF, filters
that narrow both sides to the rows PostgreSQL says meet them, a keyword answer (degraded) when
Qdrant is behind, held by a sync or down, and clear 400s.

The module syncs the small dataset's vectors once into a local-mode Qdrant of its own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg2 import sql

from hubs import settings as hubs_settings
from hubs.catalog import Entity
from hubs.recall import keyword
from hubs.recall.exact_index import rank_key
from hubs.recall.http import create_app
from hubs.recall.keyword import Filters, document
from hubs.recall.memory import Memory
from hubs.recall.search import RRF_K, fuse
from hubs.recall.semantic import payload_filter, read_indexes
from hubs.sync.feed import hub_table
from hubs.sync.records import key_of
from hubs.sync.vectors import open_client, text_of
from tests.conftest import STORES_TEMPLATE_DB, StoreBench, free_port, private_database

ORDERS = "maintenance_order"


@dataclass
class World:
    bench: StoreBench
    memory: Memory
    home: Path

    def entity(self, name: str) -> Entity:
        return self.memory.names.entity(name)

    def rows(self, name: str, where: str = "true", params: tuple = ()) -> dict[str, dict[str, Any]]:
        """The entity's rows that have a vector point (some text to embed), by key."""
        entity = self.entity(name)
        query = sql.SQL("select * from {} as t where " + where).format(hub_table(entity))
        with self.bench.conn.cursor() as cur:
            cur.execute(query, params)
            names = [d.name for d in cur.description]
            found = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        self.bench.conn.rollback()
        return {key_of(entity, r): r for r in found if text_of(entity, r)}


@pytest.fixture(scope="module")
def world(postgres_server: str, stores_template: str, hubs_home: Path, tmp_path_factory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("search")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("HUBS_QDRANT_URL", raising=False)
        patch.setenv("HUBS_HOME", str(home))
        patch.setenv("HUBS_EMBEDDER", "offline")
        with private_database(postgres_server, patch, "sr", STORES_TEMPLATE_DB):
            bench = StoreBench()
            try:
                bench.sync("vectors", full=True)
                bench.release()  # let go of the local store, as a finished sync does
                with Memory(freshness_seconds=0) as memory:
                    yield World(bench, memory, home)
            finally:
                bench.close()


def keys(answer) -> set[tuple[str, str]]:
    return {(h.entity, h.key) for h in answer.hits}


def test_fusion_adds_reciprocal_ranks() -> None:
    fused = fuse({"semantic": ["x", "y", "z"], "keyword": ["z", "x", "w"]})
    assert [item for item, _ in fused] == ["x", "z", "y", "w"]
    assert dict(fused)["x"] == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2))
    assert dict(fused)["w"] == pytest.approx(1 / (RRF_K + 3))
    # equal scores: the better single rank first, then the one seen first
    assert [i for i, _ in fuse({"a": ["p", "q"], "b": ["q", "p"]})] == ["p", "q"]
    assert [i for i, _ in fuse({"a": ["p", "r"], "b": ["q"]})] == ["p", "q", "r"]


def test_a_hit_by_words_and_a_hit_by_meaning(world: World) -> None:
    orders = world.rows(ORDERS)
    key, row = sorted(orders.items())[0]
    word = max(row["complaint"].split(), key=len).strip(".,;:")
    by_words = world.memory.search(word, entities=[ORDERS], mode="keyword", k=100)
    entity = world.entity(ORDERS)
    query = sql.SQL("select count(*) from {} as t where {} @@ websearch_to_tsquery('english', %s)").format(
        hub_table(entity), document(entity, "t")
    )
    [(matching,)] = world.bench.sql(query, (word,))
    assert (ORDERS, key) in keys(by_words) and len(by_words.hits) == matching
    assert all(h.keyword and h.keyword.terms and h.semantic is None for h in by_words.hits)

    # the order's own text and a word no row holds: no row has every word, the meaning is the order's
    asked = f"{text_of(entity, row)} zqxvfenwick"
    [(none,)] = world.bench.sql(query, (asked,))
    found = world.memory.search(asked, entities=[ORDERS], k=3)
    assert none == 0 and found.provenance.store == "vectors" and not found.provenance.degraded
    first = found.hits[0]
    assert (first.entity, first.key) == (ORDERS, key) and first.keyword is None
    assert first.semantic.rank == 1 and first.semantic.score > 0.9


def test_filters_narrow_both_sides_to_the_rows_postgres_names(world: World) -> None:
    memory = world.memory
    orders = world.rows(ORDERS)
    statuses = sorted({r["status"] for r in orders.values()})
    times = sorted(r["opened_at"] for r in orders.values())
    start, end = times[len(times) // 4], times[len(times) // 2]
    cases = [
        ({"entities": [ORDERS]}, {(ORDERS, k) for k in orders}),
        (
            {"hubs": ["hub6_corporate"]},
            {
                (e.name, k)
                for e in memory.catalog.entities
                if e.vectors and e.schema == "hub6_corporate"
                for k in world.rows(e.name)
            },
        ),
        (
            {"entities": [ORDERS], "status": [statuses[0]]},
            {(ORDERS, k) for k in world.rows(ORDERS, "status = %s", (statuses[0],))},
        ),
        (
            {"entities": [ORDERS], "time_from": start.isoformat(), "time_to": end.isoformat()},
            {(ORDERS, k) for k in world.rows(ORDERS, "opened_at between %s and %s", (start, end))},
        ),
    ]
    for filters, expected in cases:
        assert 0 < len(expected) <= 100, filters
        semantic = memory.search("engine repair brakes", mode="semantic", k=100, **filters)
        assert keys(semantic) == expected, filters  # every row meeting the filters has a point
    # a whole day later than every order: nothing, on both sides
    late = (times[-1] + timedelta(days=1)).isoformat()
    assert memory.search("engine", entities=[ORDERS], time_from=late).hits == []
    # the keyword side under a status filter: only rows with that status
    word = max(next(iter(orders.values()))["complaint"].split(), key=len).strip(".,;:")
    for status in statuses:
        hits = memory.search(word, entities=[ORDERS], status=[status], mode="keyword", k=100).hits
        assert {h.key for h in hits} <= set(world.rows(ORDERS, "status = %s", (status,)))


def test_the_keyword_search_reads_the_gin_index(world: World) -> None:
    entity = world.entity(ORDERS)
    query = sql.SQL("explain select 1 from {} as t where {} @@ websearch_to_tsquery('english', 'brake')").format(
        hub_table(entity), document(entity, "t")
    )
    with world.bench.conn.cursor() as cur:
        cur.execute("set enable_seqscan = off")
        cur.execute(query)
        plan = "\n".join(r[0] for r in cur.fetchall())
    world.bench.conn.rollback()
    assert f"{entity.table}__search" in plan, plan


def test_a_word_most_rows_hold_is_ranked_among_the_first_candidates_and_says_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders = world.rows(ORDERS)
    words = Counter(w.strip(".,;:").lower() for r in orders.values() for w in set(r["complaint"].split()))
    common = next(w for w, n in words.most_common() if n >= 6 and len(w) > 3)
    whole = world.memory.search(common, entities=[ORDERS], mode="keyword", k=100)
    assert len(whole.hits) >= 6 and "ranked the first" not in whole.provenance.reason
    monkeypatch.setattr(keyword, "CANDIDATES", 4)
    cut = world.memory.search(common, entities=[ORDERS], mode="keyword", k=3)
    assert f"ranked the first 4 matching rows of {ORDERS}" in cut.provenance.reason
    assert len(cut.hits) == 3 and keys(cut) <= keys(whole)
    rare = world.memory.search(common, entities=[ORDERS], mode="keyword", k=3, status=["no-such-status"])
    assert rare.hits == [] and "ranked the first" not in rare.provenance.reason


def test_expansion_adds_each_hits_neighbours(world: World) -> None:
    found = world.memory.search("repair", entities=[ORDERS], k=2, expand=1)
    assert found.hits and all(h.expansion is not None for h in found.hits)
    for hit in found.hits:
        alone = world.memory.neighbours(ORDERS, hit.key, hops=1, limit=25)
        assert {(n.label, n.key) for n in hit.expansion.nodes} == {(n.label, n.key) for n in alone.nodes}


def test_http_answers_as_memory_does_and_refuses_bad_input(world: World) -> None:
    client = TestClient(create_app(world.memory))
    answer = client.get("/search", params={"q": "engine", "entity": ORDERS, "k": 5})
    assert answer.status_code == 200, answer.text
    assert [h["key"] for h in answer.json()["hits"]] == [
        h.key for h in world.memory.search("engine", [ORDERS], k=5).hits
    ]
    for params, message in [
        ({"q": " "}, "the query must be a non-empty string"),
        ({"q": "engine", "k": 1000}, "k must be between 1 and 100"),
        ({"q": "engine", "entity": "tractr"}, "unknown entity 'tractr'"),
        ({"q": "engine", "entity": "tractor"}, "tractor is not searchable"),
        ({"q": "engine", "hub": "hub9"}, "unknown hub 'hub9'"),
        ({"q": "engine", "collection": "notes"}, "unknown collection 'notes'"),
        ({"q": "engine", "time_from": "yesterday"}, "ISO 8601"),
        ({"q": "engine", "time_from": "2025-03-02", "time_to": "2025-03-01"}, "is after time_to"),
        ({"q": "engine", "mode": "fuzzy"}, "mode must be one of"),
        ({"q": "engine", "expand": 2}, "expand must be between 0 and 1"),
    ]:
        refused = client.get("/search", params=params)
        assert refused.status_code == 400 and message in refused.json()["error"], (params, refused.text)


def test_the_exact_index_answers_as_qdrant_local_mode(world: World) -> None:
    """Local mode's own query_points ranks every point, ordered as the index orders scores a noise
    apart (rank_key), so ties at the k-th place cannot differ; the index must give its first k:
    same keys, same order, same scores."""
    orders = world.rows(ORDERS)
    statuses = sorted({r["status"] for r in orders.values()})
    times = sorted(r["opened_at"] for r in orders.values())
    searchable = [e for e in world.memory.catalog.entities if e.vectors]
    corporate = [e for e in searchable if e.schema == "hub6_corporate"]
    ranged = Filters(time_from=times[len(times) // 4], time_to=times[len(times) // 2])  # bounds are rows' times
    cases = {
        "none": None,
        "entity": payload_filter([world.entity(ORDERS)], False, Filters(), ()),
        "hub": payload_filter(corporate, True, Filters(), ("hub6_corporate",)),
        "status": payload_filter(searchable, True, Filters(statuses=tuple(statuses[:2])), ()),
        "time": payload_filter(searchable, True, ranged, ()),
        "all": payload_filter([world.entity(ORDERS)], False, replace(ranged, statuses=(statuses[0],)), ()),
    }
    texts = [
        "engine repair brakes",
        "quarterly revenue target",
        *(text_of(world.entity(ORDERS), r) for r in list(orders.values())[:2]),
    ]
    embedder = world.memory.vectors.embedder
    client = open_client(None, world.home / "qdrant")
    try:
        snapshot = read_indexes(client)
        names = sorted(snapshot.indexes)
        assert len(names) >= 3 and snapshot.nbytes > 0
        compared = 0
        for name in names:
            size = client.count(name).count
            for case, flt in cases.items():
                for text in texts:
                    vector = embedder.embed_one(text)
                    everything = client.query_points(
                        name, query=vector, query_filter=flt, limit=size, with_payload=["entity", "key"]
                    ).points
                    ranked = sorted(
                        ((p.score, p.payload["entity"], p.payload["key"]) for p in everything),
                        key=lambda t: rank_key(*t),
                    )
                    for k in (3, size):
                        found = snapshot.indexes[name].search(vector, flt, k)
                        where = (name, case, text[:20], k)
                        assert [(p.entity, p.key) for p in found] == [(e, key) for _, e, key in ranked[:k]], where
                        assert [p.score for p in found] == pytest.approx([s for s, _, _ in ranked[:k]], abs=1e-5)
                        compared += len(found)
        assert compared > 0
    finally:
        client.close()
    # the filters narrow: each case keeps some points of the documents collection, fewer than all
    documents = next(n for n in names if n.startswith("documents__"))
    kept = {case: len(snapshot.indexes[documents].search(vector, flt, 100_000)) for case, flt in cases.items()}
    assert all(0 < kept[c] < kept["none"] for c in cases if c not in ("none", "hub", "status")), kept


# -- degraded (last: they move the vector store's watermarks and hold its folder) ------------------


def test_qdrant_behind_held_or_down_gives_the_keyword_answer(world: World) -> None:
    memory, bench = world.memory, world.bench
    question: dict[str, Any] = {"query": "engine", "entities": [ORDERS], "k": 5}
    by_words = memory.search(mode="keyword", **question)
    assert by_words.hits and memory.search(**question).provenance.store == "vectors"

    # the snapshot let go of the folder: a sync can open it while Recall serves
    open_client(None, world.home / "qdrant").close()

    name = memory.vectors.store_name
    [(mark,)] = bench.sql(
        "select landing_seq from hubs_meta.sync_state where store = %s and entity = %s", (name, "maintenance_orders")
    )
    bench.sql(
        "update hubs_meta.sync_state set landing_seq = 0 where store = %s and entity = %s", (name, "maintenance_orders")
    )
    try:
        behind = memory.search(**question)
    finally:
        bench.sql(
            "update hubs_meta.sync_state set landing_seq = %s where store = %s and entity = %s",
            (mark, name, "maintenance_orders"),
        )
    assert behind.provenance.degraded and behind.provenance.store == "postgres"
    assert "Qdrant is behind PostgreSQL" in behind.provenance.reason and behind.hits == by_words.hits

    memory.vectors.drop()  # as after a newer sync: the next question reads the folder again
    holder = open_client(None, world.home / "qdrant")  # a sync holding it
    try:
        held = memory.search(**question)
    finally:
        holder.close()
    assert held.provenance.degraded and "held by another process" in held.provenance.reason
    assert held.hits == by_words.hits

    settings = replace(hubs_settings.load(), qdrant_url=f"http://127.0.0.1:{free_port()}")
    with Memory(settings, memory.catalog, freshness_seconds=0) as down:
        answer = down.search(**question)
    assert answer.provenance.degraded and "Qdrant failed" in answer.provenance.reason
    assert answer.hits == by_words.hits
