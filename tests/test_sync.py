"""Sync semantics across the four derived stores, on both graph servers: a full sync fills them
and a second one writes nothing; a change reaches exactly the rows it touched; a delete in
landing leaves every store after one refresh; a store that is down fails alone, keeps its
watermarks and catches up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from psycopg2 import sql

from hub_assets.runner import run_job
from hubs import settings as hubs_settings
from hubs.catalog import Entity
from hubs.checks import checks_of
from hubs.checks.base import ASKED_NOTHING
from hubs.servers.redis import CacheServer
from hubs.sync import state
from hubs.sync.cache import CacheStore
from hubs.sync.engine import EntitySync, StoreUnavailable
from hubs.sync.stores import STORES, open_store
from tests.conftest import StoreBench, free_port
from tests.helpers import build, land, write_csv

# Goals are held by every store: node, cache key, knowledge_items point, timeline edges.
MODEL = "goals"


def entity(bench: StoreBench, model: str = MODEL) -> Entity:
    return next(e for e in bench.catalog.entities if e.model == model)


def leaf_keys(bench: StoreBench, parent: Entity) -> list[str]:
    """Keys of the parent that no row of any entity references (a delete of them is accepted)."""
    [key] = parent.primary_key
    unreferenced = [
        sql.SQL("not exists (select 1 from {} c where c.{} = p.{})").format(
            sql.Identifier(child.schema, child.table), sql.Identifier(fk.columns[0]), sql.Identifier(key)
        )
        for child in bench.catalog.entities
        for fk in child.foreign_keys
        if fk.parent_model == parent.model
    ]
    query = sql.SQL("select p.{key}::text from {table} p where {free} order by 1").format(
        key=sql.Identifier(key),
        table=sql.Identifier(parent.schema, parent.table),
        free=sql.SQL(" and ").join(unreferenced) if unreferenced else sql.SQL("true"),
    )
    with bench.conn.cursor() as cur:
        cur.execute(query)
        rows = [r[0] for r in cur.fetchall()]
    bench.conn.commit()
    return rows


def held_by(bench: StoreBench, goal: Entity, key: str) -> dict[str, bool]:
    """Whether each store still holds anything of the row."""
    graph = bench.store("graph").dialect
    cache: CacheStore = bench.store("cache")
    written = cache.client.smembers(CacheStore.index_key(goal, key))
    return {
        "graph": graph.run(f"MATCH (n:{goal.label} {{key: $key}}) RETURN count(n)", {"key": key})[0][0] > 0,
        "cache": bool(written) and cache.client.exists(*written) > 0,
        "vectors": key in vector_hashes(bench, goal),
        # the timeline keeps a deleted row's beliefs, expired: it holds it while one is current
        "timeline": any(e["key"] == key and e["expired_at"] is None for e in bench.store("timeline").edges(goal)),
    }


def vector_hashes(bench: StoreBench, goal: Entity) -> dict[str, str]:
    """entity key -> content hash of its point."""
    return {p["key"]: p["content_hash"] for p in bench.store("vectors").points(goal).values()}


def written(reports: list[EntitySync]) -> dict[str, tuple[int, int]]:
    """entity -> (upserted, deleted), for the entities the sync touched."""
    return {r.entity: (r.upserted, r.deleted) for r in reports if r.upserted or r.deleted}


def assert_checks_pass(bench: StoreBench, kind: str) -> None:
    """Every check passes, except G9 which has nothing to ask while no delete was applied: it
    must then say so (a warning), not pass."""
    logged = bench.sql("select to_regclass('hubs_meta.hub_deletions') is not null")[0][0]
    deletes = logged and bench.sql("select count(*) from hubs_meta.hub_deletions where status = 'applied'")[0][0]
    for spec in checks_of(kind):
        outcome = spec.run(bench.context())
        if spec.name == "G9_deletes_propagated" and not deletes:
            assert outcome.warned and ASKED_NOTHING in outcome.notes, (outcome.summary, outcome.offending)
            continue
        assert outcome.passed, (spec.name, outcome.summary, outcome.offending)


def sync_all(bench: StoreBench, full: bool = False) -> dict[str, list[EntitySync]]:
    return {kind: bench.sync(kind, full=full) for kind in STORES}


def test_a_full_sync_fills_every_store_and_a_second_sync_writes_nothing(
    graph_backend: str, bench: StoreBench, offline_embedder: None
) -> None:
    first = sync_all(bench, full=True)
    for kind in STORES:
        assert sum(r.upserted for r in first[kind]) > 0, kind
        assert_checks_pass(bench, kind)
    again = sync_all(bench)
    assert {kind: written(reports) for kind, reports in again.items()} == {kind: {} for kind in STORES}


def revised_goals(bench: StoreBench, keys: list[str], folder: Path) -> Path:
    """A landing file that changes the title of these goals (their latest landed rows otherwise)."""
    goal = entity(bench)
    columns = [c.name for c in goal.landed_columns if not c.name.startswith("_")]
    rows = []
    for key in keys:
        found = bench.sql(
            sql.SQL("select {} from landing.{} where goal_id = %s order by _landing_seq desc limit 1")
            .format(sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(goal.landing_table))
            .as_string(bench.conn),
            (key,),
        )
        row: dict[str, Any] = dict(zip(columns, found[0], strict=True))
        row["title"] = f"{row['title']} (revised)"
        rows.append(row)
    return write_csv(folder / f"{goal.schema}.{goal.table}.csv", rows)


def test_a_change_reaches_only_the_rows_it_touched(
    graph_backend: str, bench: StoreBench, offline_embedder: None, tmp_path: Path
) -> None:
    sync_all(bench, full=True)
    before = vector_hashes(bench, entity(bench))
    keys = leaf_keys(bench, entity(bench))[:2]
    assert len(keys) == 2
    land(revised_goals(bench, keys, tmp_path))
    built = build(bench.settings.effective_postgres_url, "stg_hub1_command__goals", "goals", "goals_history")
    assert built.returncode == 0, built.stdout[-3000:]

    changed = sync_all(bench)
    for kind in STORES:
        assert written(changed[kind]) == {MODEL: (2, 0)}, kind
        assert_checks_pass(bench, kind)
    after = vector_hashes(bench, entity(bench))
    assert {k for k in before if before[k] != after[k]} == set(keys)  # re-embedded: the text changed


def test_a_delete_in_landing_leaves_every_store_after_one_refresh(
    graph_backend: str, bench: StoreBench, offline_embedder: None, tmp_path: Path
) -> None:
    goal = entity(bench)
    sync_all(bench, full=True)
    keys = [k for k in leaf_keys(bench, goal) if all(held_by(bench, goal, k).values())]
    assert keys, "no unreferenced goal that every store holds"
    gone = keys[0]
    write_csv(tmp_path / f"{goal.schema}.{goal.table}.csv", [{"goal_id": gone, "_deleted": "true"}])
    bench.release()  # the run opens the stores itself

    outcome = run_job("refresh", str(tmp_path), quiet=True)

    assert outcome.success, outcome.failures
    assert held_by(bench, goal, gone) == {kind: False for kind in STORES}
    for check in ("G9_deletes_propagated", "X1_postgres_graph_parity", "X2_postgres_qdrant_parity"):
        assert any(name.endswith(f":{check}") for name in outcome.checks_passed), (check, outcome.checks_failed)
    assert not [c for c in outcome.checks_failed if c.split(":")[0].split("/")[0] in STORES]
    assert bench.sql("select count(*) from hub1_command.goals where goal_id = %s", (gone,)) == [(0,)]


@pytest.fixture
def own_cache(bench: StoreBench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CacheServer]:
    """A cache server of this test's own, to stop and start (the session's serves other tests)."""
    server = CacheServer(replace(hubs_settings.load(), home=tmp_path / "home"), free_port())
    server.start()
    monkeypatch.setenv("HUBS_REDIS_URL", server.url)
    bench.settings = hubs_settings.load()
    yield server
    server.stop()


def test_a_cache_that_is_down_fails_alone_and_catches_up_after_a_restart(
    bench: StoreBench, own_cache: CacheServer, tmp_path: Path
) -> None:
    bench.sync("cache", full=True)
    bench.sync("graph", full=True)
    marks = bench.sql("select entity, landing_seq, deletion_seq from hubs_meta.sync_state where store = 'cache'")
    cache = bench.store("cache")
    keys = leaf_keys(bench, entity(bench))[:1]
    land(revised_goals(bench, keys, tmp_path))
    assert (
        build(bench.settings.effective_postgres_url, "stg_hub1_command__goals", "goals", "goals_history").returncode
        == 0
    )

    own_cache.stop()
    with pytest.raises(StoreUnavailable, match="Redis cache"):
        bench.sync("cache")
    with pytest.raises(StoreUnavailable, match="Redis cache"):
        open_store("cache", bench.settings, bench.catalog)
    # PostgreSQL and the other stores go on; the cache's watermarks did not move.
    assert written(bench.sync("graph")) == {MODEL: (1, 0)}
    assert (
        bench.sql("select entity, landing_seq, deletion_seq from hubs_meta.sync_state where store = 'cache'") == marks
    )

    # The cache keeps nothing on disk: it comes back empty, and the next sync sees that and
    # rebuilds it rather than trusting watermarks that describe what it lost.
    own_cache.start()
    cache.close()
    bench.opened.pop("cache")
    caught_up = bench.sync("cache")
    assert sum(r.upserted for r in caught_up) == sum(
        bench.sql(f"select count(*) from {e.qualified_name}")[0][0]
        for e in bench.catalog.entities
        if e.meta.get("cache")
    )
    assert_checks_pass(bench, "cache")
    assert written(bench.sync("cache")) == {}
    assert state.any_progress(bench.conn, "cache")
