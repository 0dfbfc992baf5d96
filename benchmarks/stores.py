"""Sync throughput of every derived store against a bare baseline, and the cost of a 1% refresh.

    python benchmarks/stores.py --scale 0.2 [--seed 42] [--stores graph,cache,vectors,timeline] [--keep]
    python benchmarks/stores.py --scale 0.2 --stores graph --graph-server neo4j

On private embedded servers (PostgreSQL, Redis, FalkorDB on free ports, Qdrant in local mode,
all under a temporary HUBS_HOME; the offline embedder): generate, land, dbt build, then a full
sync of each store (`hubs.sync.engine.sync(full=True)`), timed, in records (hub rows handed to
the store) per second, with its five slowest entities. The change feed alone (reading the same
changes from PostgreSQL and nothing else) is timed too, so the sync's time splits into reading
and writing.

Each store's baseline runs in the same run, on the same server, right after its sync, fed the
same records read from PostgreSQL beforehand (the reading is outside the timed part):

* graph: a plain UNWIND script into a graph of its own (`bench_baseline`), one index on
  :Bench(key) (keys prefixed by the label: they repeat across entities), then
  `UNWIND $rows AS r CREATE (n:Bench {key: r.key}) SET n += r.props` with the replica's
  property dicts in the replica's batch size, then as many relationships as the replica holds,
  `UNWIND $pairs ... MATCH (a) MATCH (b) CREATE (a)-[:R]->(b)` between keys paired
  deterministically. Compared in nodes + relationships per second.
  With `--graph-server neo4j` the replica is the tests' embedded Neo4j Community 5.26 (built by
  `python -m hubs.servers.neo4j build`), and the baseline runs on it, under the label :Bench with
  an index on its key (results in stores-<scale>-...-neo4j.json).
* cache: Redis pipelined SETs (transaction=False, EX = the entry's TTL) of exactly the
  key / value / TTL pairs the cache store writes, into logical database 1 of the cache server.
* vectors: (a) the embedder alone on the texts the store embeds, chunk by chunk as the store
  does; (b) raw qdrant-client upserts of those vectors (same point ids and payloads) into
  fresh collections on a separate local path opened like the store's (`open_client`, SQLite
  tuned); and (a) + (b).
* timeline: the embedder alone on the node names and edge facts the timeline embeds; a plain
  UNWIND of the same nodes and edges with their vectors (vecf32) through falkordb-py's query
  parameters, into a graph of its own; and the graph baseline's relationships per second.

Then ~1% of the current rows of every entity with a plain text column (text, not in the key,
not a foreign key, no CHECK / UNIQUE of its own or of the model, not used by a relationship, a
cache key or a computed column, not named in the hub's singular tests) are landed again: the
landing row each chosen current version came from, with that column suffixed " (rev)". dbt
builds again (same command) and every store syncs incrementally: the refresh's time against
the full one, next to the change share (and the dbt builds' node time by layer, full and
incremental). Prints a table and writes the numbers as JSON next to the others:
benchmarks/results/stores-<scale>.json (stores-<scale>-<stores>.json for a subset).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import neo4j
import redis
from falkordb import FalkorDB
from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor
from qdrant_client import models

from hub_assets.dbt.pending import pending
from hubs import settings as hubs_settings
from hubs.catalog import MANIFEST, Catalog, Entity, dbt_executable, load_catalog
from hubs.db import connect
from hubs.embeddings import Embedder, embedder_from_env
from hubs.generate import generate
from hubs.landing.loader import load_paths
from hubs.servers import embedded_servers, ensure_running
from hubs.servers.neo4j import Neo4jServer
from hubs.settings import DBT_PROJECT_DIR, Settings
from hubs.sync import feed
from hubs.sync.cache import CacheStore, writes
from hubs.sync.engine import EntitySync, Store, parents_first, sync
from hubs.sync.feed import current_rows
from hubs.sync.graph.store import BATCH as GRAPH_BATCH
from hubs.sync.graph.store import GraphStore
from hubs.sync.records import key_of, properties
from hubs.sync.stores import STORES, holds, opened
from hubs.sync.timeline import TimelineStore
from hubs.sync.timeline_writes import BATCH as TIMELINE_BATCH
from hubs.sync.vectors import VectorStore, open_client, point_id, text_hash, text_of, tune_local_storage

ROOT = Path(__file__).resolve().parent.parent
# The embedded servers a benchmark starts, with the variables that give their ports.
PORT_VARIABLES = {"postgres": "HUBS_POSTGRES_PORT", "cache": "HUBS_REDIS_PORT", "graph": "HUBS_FALKORDB_PORT"}
SERVERS = tuple(PORT_VARIABLES)
# Unset so that every store is the embedded one and the offline embedder is used.
UNSET = (
    "HUBS_POSTGRES_URL",
    "HUBS_REDIS_URL",
    "HUBS_FALKORDB_URL",
    "HUBS_NEO4J_URI",
    "HUBS_QDRANT_URL",
    "OPENAI_API_KEY",
    "HUBS_EMBEDDER",
    "HUBS_LEGACY_URL",
    "HUBS_MIGRATION_APPROVALS",
)
BASELINE_GRAPH = "bench_baseline"
TIMELINE_BASELINE_GRAPH = "bench_timeline_baseline"
CACHE_BASELINE_DB = 1
CHANGE_SHARE = 0.01
SUFFIX = " (rev)"
NODE_QUERY = "UNWIND $rows AS r CREATE (n:Bench {key: r.key}) SET n += r.props"
PAIR_QUERY = "UNWIND $pairs AS p MATCH (a:Bench {key: p.a}) MATCH (b:Bench {key: p.b}) CREATE (a)-[:R]->(b)"
TIMELINE_NODE_QUERY = (
    "UNWIND $rows AS r CREATE (n:TBench {uuid: r.uuid, name: r.name}) SET n.name_embedding = vecf32(r.v)"
)
TIMELINE_EDGE_QUERY = (
    "UNWIND $edges AS e MATCH (a:TBench {uuid: e.a}) MATCH (b:TBench {uuid: e.b}) "
    "CREATE (a)-[r:T {uuid: e.uuid, fact: e.fact}]->(b) SET r.fact_embedding = vecf32(e.v)"
)
_WORD = re.compile(r"\w+")

T = TypeVar("T")
Runner = Callable[..., list[list[Any]]]  # (query, params) -> rows, on the baseline's graph server


# -- setup -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stores", default=",".join(STORES), help=f"comma-separated, of {', '.join(STORES)}")
    parser.add_argument("--keep", action="store_true", help="leave the servers and data folder (prints where)")
    add_graph_server_option(parser)
    args = parser.parse_args(argv)
    args.stores = chosen_stores(parser, args.stores)
    return args


def add_graph_server_option(parser: argparse.ArgumentParser) -> None:
    """--graph-server (scale.py takes the same option)."""
    parser.add_argument(
        "--graph-server",
        choices=("falkordb", "neo4j"),
        default="falkordb",
        help="the replica's server: the embedded FalkorDB, or an embedded Neo4j Community 5.26 (the tests')",
    )


def chosen_stores(parser: argparse.ArgumentParser, value: str) -> list[str]:
    """The stores a comma-separated --stores names (scale.py takes the same option)."""
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STORES]
    if unknown or not chosen:
        parser.error(f"--stores takes some of {', '.join(STORES)}, not {', '.join(unknown) or 'nothing'}")
    return chosen


def prepare_environment(home: Path | None = None) -> Path:
    """A temporary HUBS_HOME (or `home`, one kept by an earlier run), free ports for the three
    servers (a kept home's servers keep theirs while they still run), no production URLs or OpenAI key."""
    home = home or Path(tempfile.mkdtemp(prefix="hubs-bench-stores-"))
    os.environ.update(HUBS_HOME=str(home), DBT_TARGET_PATH=str(home / "dbt"))
    for server, variable in PORT_VARIABLES.items():
        state = home / "run" / f"{server}.json"
        port = json.loads(state.read_text())["port"] if state.exists() else free_port()
        os.environ[variable] = str(port)
    for name in UNSET:
        os.environ.pop(name, None)
    return home


def start_neo4j(settings: Settings) -> Neo4jServer:
    """The tests' embedded Neo4j (`python -m hubs.servers.neo4j build` first), on a free port, as
    the replica's server for this run."""
    server = Neo4jServer(settings, free_port())
    server.start()
    os.environ.update(HUBS_NEO4J_URI=server.url, HUBS_NEO4J_PASSWORD="")
    return server


def stop_servers(settings: Settings, home: Path, remove: bool = True) -> None:
    """Stop a benchmark's embedded servers and remove its data folder (unless told not to)."""
    for name in SERVERS:
        embedded_servers(settings)[name].stop()
    if remove:
        shutil.rmtree(home, ignore_errors=True)


PERCENTILES = (50, 95, 99)


def percentiles(samples: list[float], digits: int = 3) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) of durations in seconds, in ms, and how many there were."""
    ordered = sorted(samples)
    if not ordered:
        return {}
    picked = {f"p{p}": ordered[min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1)] for p in PERCENTILES}
    return {name: round(value * 1000, digits) for name, value in picked.items()} | {"n": len(ordered)}


def timed(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


class BuildFailed(SystemExit):
    """dbt build failed: the servers and data stay for a look."""


def dbt_build(home: Path, select: list[str] | None = None) -> float:
    """`dbt build` as full_build.py runs it (or of `select`, as a refresh would); seconds. Stops
    the benchmark if it fails."""
    started = time.perf_counter()
    build = subprocess.run(
        [
            dbt_executable(),
            "build",
            *(["--select", " ".join(select)] if select else []),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if build.returncode != 0:
        print(build.stdout[-4000:])
        raise BuildFailed(f"dbt build failed (the data is in {home})")
    return seconds


def dbt_layers(home: Path) -> dict[str, float]:
    """Node seconds of the last dbt build by layer (summed over its threads), as full_build.py counts them."""
    layers: dict[str, float] = {}
    for result in json.loads((home / "dbt" / "run_results.json").read_text())["results"]:
        node = result["unique_id"].split(".")[-1]
        if result["unique_id"].startswith("test."):
            layer = "tests"
        elif node.startswith("stg_"):
            layer = "staging"
        elif node.endswith("_history"):
            layer = "history"
        elif node == "hub_deletions":
            layer = "delete pass"
        else:
            layer = "hub tables"
        layers[layer] = layers.get(layer, 0.0) + result["execution_time"]
    return dict(sorted(layers.items()))


def land(settings: Settings, catalog: Catalog, folder: Path) -> float:
    results, seconds = timed(lambda: load_paths(settings, catalog, [folder]))
    refused = [r for r in results if r.status != "loaded"]
    if refused:
        raise SystemExit(f"landing refused files: {refused}")
    return seconds


def current_counts(conn: Connection, catalog: Catalog) -> dict[str, int]:
    """Current rows per hub table (model name -> rows)."""
    counts = {}
    with conn.cursor() as cur:
        for entity in catalog.entities:
            cur.execute(sql.SQL("select count(*) from {}").format(feed.hub_table(entity)))
            counts[entity.model] = int(cur.fetchone()[0])
    conn.commit()
    return counts


# -- syncing ---------------------------------------------------------------------------------------


@dataclass
class SyncRun:
    seconds: float
    reports: list[EntitySync]

    @property
    def records(self) -> int:
        return sum(r.upserted for r in self.reports)

    @property
    def deleted(self) -> int:
        return sum(r.deleted for r in self.reports)

    def slowest(self, count: int = 5) -> list[EntitySync]:
        return sorted(self.reports, key=lambda r: r.seconds, reverse=True)[:count]

    def as_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "records": self.records,
            "deleted": self.deleted,
            "records_per_second": rate(self.records, self.seconds),
            "entities": {r.entity: {"records": r.upserted, "seconds": r.seconds} for r in self.reports},
        }


def run_sync(store: Store, conn: Connection, catalog: Catalog, full: bool) -> SyncRun:
    reports, seconds = timed(lambda: sync(store, conn, catalog, full=full))
    return SyncRun(seconds, reports)


def held(kind: str, catalog: Catalog) -> list[Entity]:
    """The entities a store of this kind keeps, parents first (the sync's order)."""
    return [e for e in parents_first(catalog) if holds(kind, e)]


def feed_read_seconds(store: Store, conn: Connection, catalog: Catalog) -> float:
    """Reading every change the store was handed, and nothing else (the PostgreSQL part of a full sync)."""
    started = time.perf_counter()
    for entity in parents_first(catalog):
        if store.holds(entity):
            for _changes, _upto in feed.changes(conn, entity, 0, store.extra_columns(entity), store.wants_versions):
                pass
    conn.commit()
    return time.perf_counter() - started


# -- graph -----------------------------------------------------------------------------------------


def graph_counts(store: GraphStore) -> tuple[int, int]:
    [[nodes]] = store.dialect.run("MATCH (n) RETURN count(n)")
    [[relationships]] = store.dialect.run("MATCH ()-[r]->() RETURN count(r)")
    return int(nodes), int(relationships)


def baseline_pairs(keys: list[str], count: int) -> list[dict[str, str]]:
    """`count` (a, b) pairs among the keys, the same every run: a walks the keys, b strides by a prime."""
    if not keys:
        return []
    stride = 7919
    return [{"a": keys[i % len(keys)], "b": keys[(i * stride + 1) % len(keys)]} for i in range(count)]


def graph_baseline_nodes(run: Runner, conn: Connection, catalog: Catalog) -> tuple[list[str], float]:
    """Every current row as a :Bench node (key prefixed by the label: keys repeat across entities)."""
    keys: list[str] = []
    seconds = 0.0
    for entity in catalog.entities:
        label = entity.label
        for rows in chunked(current_rows(conn, entity), GRAPH_BATCH):
            batch = [{"key": f"{label}:{key_of(entity, r)}", "props": properties(entity, r)} for r in rows]
            started = time.perf_counter()
            run(NODE_QUERY, {"rows": batch})
            seconds += time.perf_counter() - started
            keys += [b["key"] for b in batch]
    conn.commit()
    return keys, seconds


@contextmanager
def baseline_graph(settings: Settings) -> Iterator[Runner]:
    """A place of its own for the baseline on the replica's server, with one index on
    :Bench(key): a graph of its own on FalkorDB; on Neo4j (one database) the :Bench label, whose
    nodes and index are removed afterwards."""
    if settings.neo4j_uri:
        driver = neo4j.GraphDatabase.driver(
            settings.neo4j_uri, auth=(settings.neo4j_user, settings.neo4j_password or "")
        )

        def run_neo4j(query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
            records, _, _ = driver.execute_query(query, params or {})
            return [list(r.values()) for r in records]

        try:
            run_neo4j("CREATE INDEX bench_key IF NOT EXISTS FOR (n:Bench) ON (n.key)")
            run_neo4j("CALL db.awaitIndexes()")
            yield run_neo4j
        finally:
            with driver.session() as session:  # CALL ... IN TRANSACTIONS needs an implicit transaction
                session.run("MATCH (n:Bench) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
            run_neo4j("DROP INDEX bench_key IF EXISTS")
            driver.close()
        return
    db = FalkorDB.from_url(embedded_servers(settings)["graph"].url)
    graph = db.select_graph(BASELINE_GRAPH)
    try:
        graph.query("CREATE INDEX FOR (n:Bench) ON (n.key)")
        yield lambda query, params=None: graph.query(query, params or {}).result_set
    finally:
        graph.delete()
        db.connection.close()


def graph_baseline(settings: Settings, conn: Connection, catalog: Catalog, relationships: int) -> dict[str, float]:
    with baseline_graph(settings) as run:
        keys, node_seconds = graph_baseline_nodes(run, conn, catalog)
        relationship_seconds = 0.0
        for part in chunked(baseline_pairs(keys, relationships), GRAPH_BATCH):
            started = time.perf_counter()
            run(PAIR_QUERY, {"pairs": part})
            relationship_seconds += time.perf_counter() - started
        [[written]] = run("MATCH ()-[r:R]->() RETURN count(r)")
        return {
            "nodes": len(keys),
            "relationships": int(written),
            "node_seconds": node_seconds,
            "relationship_seconds": relationship_seconds,
            "seconds": node_seconds + relationship_seconds,
        }


def bench_graph(settings: Settings, catalog: Catalog, conn: Connection) -> dict[str, Any]:
    with opened("graph", settings, catalog) as store:
        run = run_sync(store, conn, catalog, full=True)
        reading = feed_read_seconds(store, conn, catalog)
        nodes, relationships = graph_counts(cast(GraphStore, store))
    baseline = graph_baseline(settings, conn, catalog, relationships)
    written = nodes + relationships
    return {
        "server": "neo4j" if settings.neo4j_uri else "falkordb",
        "full": run,
        "feed_read_seconds": reading,
        "nodes": nodes,
        "relationships": relationships,
        "written": written,
        "written_per_second": rate(written, run.seconds),
        "baseline": baseline,
        "baseline_per_second": rate(baseline["nodes"] + baseline["relationships"], baseline["seconds"]),
        "baseline_relationships_per_second": rate(baseline["relationships"], baseline["relationship_seconds"]),
    }


# -- cache -----------------------------------------------------------------------------------------


def with_database(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def cache_keys(store: CacheStore) -> int:
    """Keys the cache store wrote: every key but its per-row index sets, its sync marker and the
    count of Recall's record invalidations (CacheStore.size without its scan of the records)."""
    client = store.client
    indexes = sum(1 for _ in client.scan_iter(match="hubs:index:*", count=1000))
    return int(client.dbsize()) - indexes - int(client.exists("hubs:synced")) - int(client.exists("hubs:generations"))


def cache_baseline(url: str, conn: Connection, catalog: Catalog, extra: dict[str, dict[str, str]]) -> dict[str, float]:
    client = redis.Redis.from_url(with_database(url, CACHE_BASELINE_DB), socket_timeout=30)
    client.flushdb()
    rows = keys = 0
    seconds = 0.0
    try:
        for entity in held("cache", catalog):
            for chunk in chunked(current_rows(conn, entity, extra[entity.model]), feed.CHUNK):
                pairs = [item for row in chunk for item in writes(entity, row).items()]
                started = time.perf_counter()
                pipe = client.pipeline(transaction=False)
                for key, (value, ttl) in pairs:
                    pipe.set(key, value, ex=ttl)
                pipe.execute()
                seconds += time.perf_counter() - started
                rows += len(chunk)
                keys += len(pairs)
        conn.commit()
        return {"rows": rows, "keys": keys, "seconds": seconds}
    finally:
        client.flushdb()
        client.close()


def bench_cache(settings: Settings, catalog: Catalog, conn: Connection) -> dict[str, Any]:
    with opened("cache", settings, catalog) as store:
        run = run_sync(store, conn, catalog, full=True)
        reading = feed_read_seconds(store, conn, catalog)
        keys = cache_keys(cast(CacheStore, store))
        extra = {e.model: store.extra_columns(e) for e in held("cache", catalog)}
    baseline = cache_baseline(embedded_servers(settings)["cache"].url, conn, catalog, extra)
    return {
        "full": run,
        "feed_read_seconds": reading,
        "keys": keys,
        "entries": sum(len(e.cache) for e in held("cache", catalog)),
        "baseline": baseline,
        "baseline_per_second": rate(baseline["rows"], baseline["seconds"]),
    }


# -- vectors ---------------------------------------------------------------------------------------


def vector_points(store: VectorStore, catalog: Catalog) -> int:
    names = {store.collection(e) for e in held("vectors", catalog)}
    return sum(store.client.count(n, exact=True).count for n in names if store.client.collection_exists(n))


def create_collections(shaper: VectorStore, catalog: Catalog) -> None:
    for name in sorted({shaper.collection(e) for e in held("vectors", catalog)}):
        shaper.client.create_collection(
            name,
            vectors_config=models.VectorParams(size=shaper.embedder.dimension, distance=models.Distance.COSINE),
        )
    tune_local_storage(shaper.client)


def vector_items(shaper: VectorStore, entity: Entity, rows: list[dict[str, Any]]) -> list[tuple[str, dict, str]]:
    """(point id, payload, text) of the rows that have a text, as the store builds them."""
    items = []
    for row in rows:
        key = key_of(entity, row)
        text = text_of(entity, row)
        if text:
            digest = text_hash(shaper.embedder.model, text)
            items.append((point_id(entity, key), shaper.payload(entity, key, row, digest), text))
    return items


def vector_baselines(path: Path, conn: Connection, catalog: Catalog) -> dict[str, float]:
    """(a) embedding alone and (b) raw upserts of the vectors, chunk by chunk as the store does."""
    shaper = VectorStore(open_client(None, path), embedder_from_env())  # collection names and payloads only
    points = 0
    embed_seconds = upsert_seconds = 0.0
    try:
        create_collections(shaper, catalog)
        for entity in held("vectors", catalog):
            for rows in chunked(current_rows(conn, entity), feed.CHUNK):
                items = vector_items(shaper, entity, rows)
                if not items:
                    continue
                vectors, seconds = timed(lambda items=items: shaper.embedder.embed([t for _, _, t in items]))
                embed_seconds += seconds
                started = time.perf_counter()
                batch = [
                    models.PointStruct(id=pid, vector=vector, payload=payload)
                    for (pid, payload, _), vector in zip(items, vectors, strict=True)
                ]
                shaper.client.upsert(shaper.collection(entity), points=batch)
                upsert_seconds += time.perf_counter() - started
                points += len(items)
        conn.commit()
        return {"points": points, "embed_seconds": embed_seconds, "upsert_seconds": upsert_seconds}
    finally:
        shaper.close()
        shutil.rmtree(path, ignore_errors=True)


def bench_vectors(settings: Settings, catalog: Catalog, conn: Connection) -> dict[str, Any]:
    with opened("vectors", settings, catalog) as store:
        run = run_sync(store, conn, catalog, full=True)
        reading = feed_read_seconds(store, conn, catalog)
        points = vector_points(cast(VectorStore, store), catalog)
    # The local Qdrant folder admits one client at a time: the store is closed, the baseline has its own.
    baseline = vector_baselines(settings.home / "qdrant-baseline", conn, catalog)
    both = baseline["embed_seconds"] + baseline["upsert_seconds"]
    return {
        "full": run,
        "feed_read_seconds": reading,
        "points": points,
        "baseline": {**baseline, "embed_and_upsert_seconds": both},
        "embed_per_second": rate(baseline["points"], baseline["embed_seconds"]),
        "upsert_per_second": rate(baseline["points"], baseline["upsert_seconds"]),
        "baseline_per_second": rate(baseline["points"], both),
    }


# -- timeline --------------------------------------------------------------------------------------


@dataclass
class TimelineChunk:
    """What the timeline embeds and writes for one chunk of changes."""

    nodes: list[tuple[str, str]] = field(default_factory=list)  # uuid, name
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # uuid, source, target, fact


def timeline_chunks(store: TimelineStore, conn: Connection, catalog: Catalog) -> list[TimelineChunk]:
    """The nodes and edges of every chunk the full sync wrote, built by the store's own code."""
    chunks = []
    for entity in parents_first(catalog):
        if not store.holds(entity):
            continue
        for changes, _upto in feed.changes(conn, entity, 0, {}, True):
            nodes: dict = {}
            edges = [store._edge(entity, c.key, v, nodes) for c in changes for v in store._versions(entity, c)]
            if edges:
                chunks.append(
                    TimelineChunk(
                        [(n.uuid, n.name) for n in nodes.values()],
                        [(e.uuid, e.source_node_uuid, e.target_node_uuid, e.fact) for e in edges],
                    )
                )
    conn.commit()
    return chunks


def timeline_write(graph: Any, nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for part in chunked(nodes, TIMELINE_BATCH):
        graph.query(TIMELINE_NODE_QUERY, {"rows": part})
    for part in chunked(edges, TIMELINE_BATCH):
        graph.query(TIMELINE_EDGE_QUERY, {"edges": part})
    return time.perf_counter() - started


def timeline_baseline(url: str, chunks: list[TimelineChunk], embedder: Embedder) -> dict[str, float]:
    """Embedding alone, and a plain UNWIND of the same nodes and edges with their vectors."""
    db = FalkorDB.from_url(url)
    graph = db.select_graph(TIMELINE_BASELINE_GRAPH)
    seen: set[str] = set()
    embed_seconds = write_seconds = 0.0
    try:
        graph.query("CREATE INDEX FOR (n:TBench) ON (n.uuid)")
        for chunk in chunks:
            started = time.perf_counter()
            names = embedder.embed([name for _, name in chunk.nodes])
            facts = embedder.embed([edge[3] for edge in chunk.edges])
            embed_seconds += time.perf_counter() - started
            nodes = [
                {"uuid": u, "name": n, "v": v} for (u, n), v in zip(chunk.nodes, names, strict=True) if u not in seen
            ]
            seen.update(n["uuid"] for n in nodes)
            edges = [
                {"uuid": u, "a": a, "b": b, "fact": f, "v": v}
                for (u, a, b, f), v in zip(chunk.edges, facts, strict=True)
            ]
            write_seconds += timeline_write(graph, nodes, edges)
        return {
            "nodes": len(seen),
            "edges": sum(len(c.edges) for c in chunks),
            "texts": sum(len(c.nodes) + len(c.edges) for c in chunks),
            "embed_seconds": embed_seconds,
            "write_seconds": write_seconds,
        }
    finally:
        graph.delete()
        db.connection.close()


def timeline_edges(store: TimelineStore) -> int:
    [row] = store.query("MATCH ()-[e:RELATES_TO]->() RETURN count(e) AS n")
    return int(row["n"])


def bench_timeline(settings: Settings, catalog: Catalog, conn: Connection) -> dict[str, Any]:
    with opened("timeline", settings, catalog) as opened_store:
        store = cast(TimelineStore, opened_store)
        run = run_sync(store, conn, catalog, full=True)
        reading = feed_read_seconds(store, conn, catalog)
        edges = timeline_edges(store)
        chunks = timeline_chunks(store, conn, catalog)
        embedder = store.embedder
    baseline = timeline_baseline(embedded_servers(settings)["graph"].url, chunks, embedder)
    return {
        "full": run,
        "feed_read_seconds": reading,
        "edges": edges,
        "edges_per_second": rate(edges, run.seconds),
        "baseline": baseline,
        "embed_per_second": rate(baseline["edges"], baseline["embed_seconds"]),
        "write_per_second": rate(baseline["edges"], baseline["write_seconds"]),
        "baseline_per_second": rate(baseline["edges"], baseline["embed_seconds"] + baseline["write_seconds"]),
    }


BENCHES: dict[str, Callable[[Settings, Catalog, Connection], dict[str, Any]]] = {
    "graph": bench_graph,
    "cache": bench_cache,
    "vectors": bench_vectors,
    "timeline": bench_timeline,
}


# -- the 1% change ---------------------------------------------------------------------------------


def model_constraint_columns(catalog: Catalog) -> dict[str, set[str]]:
    """Per model, every name a model-level constraint mentions (multi-column UNIQUE, CHECK, EXCLUDE)."""
    manifest = json.loads(MANIFEST.read_text())  # the one load_catalog() read, before DBT_TARGET_PATH was set
    models_ = {e.model for e in catalog.entities}
    named: dict[str, set[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["name"] not in models_:
            continue
        words: set[str] = set()
        for constraint in node.get("constraints", []):
            words.update(constraint.get("columns") or [])
            words.update(_WORD.findall(constraint.get("expression") or ""))
        named[node["name"]] = words
    return named


def tested_names(entity: Entity) -> set[str]:
    """Every name the hub's singular tests mention (a test may match a text column across tables,
    such as an intercompany invoice number against the bill's)."""
    names: set[str] = set()
    for path in (DBT_PROJECT_DIR / "tests" / entity.schema).glob("*.sql"):
        names.update(_WORD.findall(path.read_text()))
    return names


def meta_columns(entity: Entity, catalog: Catalog) -> set[str]:
    """Columns the stores read for more than their value: relationship ends, cache keys, computed inputs."""
    names: set[str] = set()
    for rel in entity.relationships:
        names.update((*rel.start_columns, *rel.end_columns, *rel.key_columns))
        names.update([rel.column] if rel.column else [])
    for other in catalog.entities:  # found by another entity's relationship (LISTS finds tractors by VIN)
        for rel in other.relationships:
            if rel.end_model == entity.model and rel.target_column:
                names.add(rel.target_column)
    for entry in entity.cache:
        names.update(_WORD.findall(entry.key))
        names.update(_WORD.findall(entry.where))
    for column in entity.columns:
        if column.computed:
            names.update(_WORD.findall(column.meta["expression"]))
    return names


def editable_column(entity: Entity, catalog: Catalog, constrained: set[str]) -> str | None:
    """A landed text column whose value can change freely; one the vectors embed when there is one."""
    foreign = {c for fk in entity.foreign_keys for c in fk.columns}
    excluded = set(entity.primary_key) | foreign | constrained | meta_columns(entity, catalog) | tested_names(entity)
    candidates = [
        c.name
        for c in entity.landed_columns
        if c.data_type == "text"
        and c.name not in excluded
        and not c.has_constraint("check")
        and not c.has_constraint("unique")
    ]
    embedded = entity.vectors.text if entity.vectors else ()
    preferred = [c for c in candidates if c in embedded]
    return (preferred or candidates or [None])[0]


def changed_landed_rows(conn: Connection, entity: Entity, column: str, share: float) -> list[dict[str, Any]]:
    """~share of the current rows, as landed (the landing row each current version came from), edited."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("select count(*) from {}").format(feed.hub_table(entity)))
        wanted = max(1, round(cur.fetchone()[0] * share))
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(
            sql.SQL(
                "select l.* from {landing} as l join {hub} as h on h._landing_seq = l._landing_seq"
                " where l.{col} is not null order by md5(l._landing_seq::text) limit %s"
            ).format(
                landing=sql.Identifier("landing", entity.landing_table),
                hub=feed.hub_table(entity),
                col=sql.Identifier(column),
            ),
            (wanted,),
        )
        rows = [dict(r) for r in cur.fetchall()]
    conn.commit()
    for row in rows:
        row[column] = f"{row[column]}{SUFFIX}"
    return rows


def csv_field(value: str | None) -> str:
    """NULL as an empty field, any text quoted (so an empty string stays one), as COPY CSV reads them."""
    if value is None:
        return ""
    return '"' + value.replace('"', '""') + '"'


def write_landing_file(folder: Path, entity: Entity, rows: list[dict[str, Any]]) -> Path:
    columns = [c.name for c in entity.landed_columns if not c.name.startswith("_")]
    path = folder / f"{entity.qualified_name}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(columns) + "\n")
        for row in rows:
            handle.write(",".join(csv_field(row.get(c)) for c in columns) + "\n")
    return path


def accepted_changes(conn: Connection, edits: dict[str, tuple[Entity, str, int]]) -> int:
    """Current rows that carry the edit after the build (rows the build quarantined would be missing)."""
    total = 0
    with conn.cursor() as cur:
        for entity, column, _count in edits.values():
            cur.execute(
                sql.SQL("select count(*) from {} where {} like %s").format(
                    feed.hub_table(entity), sql.Identifier(column)
                ),
                (f"%{SUFFIX}",),
            )
            total += int(cur.fetchone()[0])
    conn.commit()
    return total


def write_changes(conn: Connection, catalog: Catalog, folder: Path) -> dict[str, tuple[Entity, str, int]]:
    """Landing files re-sending ~1% of each editable entity's rows with one text column edited."""
    folder.mkdir(parents=True, exist_ok=True)
    constrained = model_constraint_columns(catalog)
    edits = {}
    for entity in catalog.entities:
        column = editable_column(entity, catalog, constrained.get(entity.model, set()))
        if column is None:
            continue
        rows = changed_landed_rows(conn, entity, column, CHANGE_SHARE)
        if rows:
            write_landing_file(folder, entity, rows)
            edits[entity.model] = (entity, column, len(rows))
    return edits


def incremental_syncs(settings: Settings, catalog: Catalog, conn: Connection, kinds: list[str]) -> dict[str, SyncRun]:
    runs = {}
    for kind in kinds:
        with opened(kind, settings, catalog) as store:
            runs[kind] = run_sync(store, conn, catalog, full=False)
    return runs


def bench_change(
    settings: Settings, catalog: Catalog, conn: Connection, kinds: list[str], total_rows: int
) -> dict[str, Any]:
    edits = write_changes(conn, catalog, settings.home / "revision")
    landing_seconds = land(settings, catalog, settings.home / "revision")
    # What a refresh builds (hub_assets/dbt/pending.py): the changed entities' models and tests.
    manifest = json.loads(MANIFEST.read_text())
    started = time.perf_counter()
    todo = pending(conn, manifest)
    deciding = time.perf_counter() - started
    chosen = [manifest["nodes"][uid]["name"] for uid in todo.models()]
    build_seconds = dbt_build(settings.home, chosen)
    started = time.perf_counter()
    nothing = pending(conn, manifest).nothing  # a refresh right after: no dbt at all
    noop_seconds = time.perf_counter() - started
    changed = sum(count for _, _, count in edits.values())
    return {
        "changed_rows": changed,
        "total_rows": total_rows,
        "share": changed / total_rows if total_rows else 0.0,
        "accepted": accepted_changes(conn, edits),
        "columns": {model: {"column": column, "rows": count} for model, (_, column, count) in edits.items()},
        "land_seconds": landing_seconds,
        "dbt_build_seconds": build_seconds,
        "dbt_models_selected": len(chosen),
        "dbt_deciding_seconds": deciding,
        "refresh_with_nothing_new": {"dbt_runs": not nothing, "deciding_seconds": noop_seconds},
        "dbt_layers": dbt_layers(settings.home),
        "syncs": incremental_syncs(settings, catalog, conn, kinds),
    }


# -- report ----------------------------------------------------------------------------------------


def versus(baseline_rate: float, sync_rate: float) -> str:
    """How the sync's rate compares with a baseline's, in words."""
    if baseline_rate <= 0 or sync_rate <= 0:
        return "n/a"
    factor = baseline_rate / sync_rate
    return f"sync {factor:.1f}x slower" if factor >= 1 else f"sync {1 / factor:.1f}x faster"


def print_slowest(run: SyncRun) -> None:
    slow = ", ".join(f"{r.entity} {r.seconds:.1f}s ({r.upserted:,})" for r in run.slowest())
    print(f"    slowest entities: {slow}")


def print_sync_lines(run: SyncRun, reading: float, written: int, unit: str) -> None:
    """The sync's time and rates, its time outside the entities (clear, prepare, deferred writes)
    and without the change feed's reading (what is left for the store's own work)."""
    outside = run.seconds - sum(r.seconds for r in run.reports)
    writing = run.seconds - reading
    print(
        f"    full sync {run.seconds:7.1f} s: {run.records:,} rows {rate(run.records, run.seconds):,.0f}/s,"
        f" {written:,} {unit} {rate(written, run.seconds):,.0f}/s"
    )
    print(
        f"      of which reading the change feed (timed alone) {reading:.1f} s, outside the entities"
        f" (clear, prepare, finish) {outside:.1f} s; without the reading: {writing:.1f} s,"
        f" {rate(written, writing):,.0f} {unit}/s"
    )


def print_graph(result: dict[str, Any]) -> None:
    run, base = result["full"], result["baseline"]
    writing = rate(result["written"], run.seconds - result["feed_read_seconds"])
    base_rate = result["baseline_per_second"]
    print(f"  graph ({'Neo4j' if result.get('server') == 'neo4j' else 'FalkorDB'} replica)")
    print_sync_lines(run, result["feed_read_seconds"], result["written"], "nodes+relationships")
    print(f"      ({result['nodes']:,} nodes, {result['relationships']:,} relationships)")
    print(
        f"    baseline plain UNWIND: {base['nodes']:,} nodes in {base['node_seconds']:.1f} s +"
        f" {base['relationships']:,} relationships in {base['relationship_seconds']:.1f} s:"
        f" {base_rate:,.0f}/s -> {versus(base_rate, result['written_per_second'])}"
        f" ({versus(base_rate, writing)} without the reading)"
    )
    print_slowest(run)


def print_cache(result: dict[str, Any]) -> None:
    run, base = result["full"], result["baseline"]
    keys_rate = rate(result["keys"], run.seconds)
    print("  cache (Redis)")
    print_sync_lines(run, result["feed_read_seconds"], result["keys"], "keys")
    base_rate = rate(base["keys"], base["seconds"])
    print(
        f"    baseline pipelined SETs: {base['keys']:,} keys of {base['rows']:,} rows in {base['seconds']:.2f} s:"
        f" {base_rate:,.0f} keys/s -> {versus(base_rate, keys_rate)}"
        f" ({versus(base_rate, rate(result['keys'], run.seconds - result['feed_read_seconds']))} without the reading)"
    )
    print_slowest(run)


def print_vectors(result: dict[str, Any]) -> None:
    run, base = result["full"], result["baseline"]
    sync_rate = rate(result["points"], run.seconds)
    print("  vectors (Qdrant local, offline embedder)")
    print_sync_lines(run, result["feed_read_seconds"], result["points"], "points")
    print(
        f"    baseline (a) embedder alone: {base['embed_seconds']:.2f} s, {result['embed_per_second']:,.0f} texts/s"
        f" -> {versus(result['embed_per_second'], sync_rate)}"
    )
    print(
        f"    baseline (b) raw qdrant-client upserts: {base['upsert_seconds']:.2f} s,"
        f" {result['upsert_per_second']:,.0f} points/s -> {versus(result['upsert_per_second'], sync_rate)}"
    )
    print(
        f"    baseline (a)+(b): {base['embed_and_upsert_seconds']:.2f} s, {result['baseline_per_second']:,.0f} points/s"
        f" -> {versus(result['baseline_per_second'], sync_rate)}"
    )
    print_slowest(run)


def print_timeline(result: dict[str, Any], graph: dict[str, Any] | None) -> None:
    run, base = result["full"], result["baseline"]
    edge_rate = result["edges_per_second"]
    print("  timeline (Graphiti on FalkorDB, offline embedder)")
    print_sync_lines(run, result["feed_read_seconds"], result["edges"], "edges")
    print(
        f"    baseline embedder alone: {base['texts']:,} texts ({base['nodes']:,} node names, {base['edges']:,} facts)"
        f" in {base['embed_seconds']:.2f} s, {result['embed_per_second']:,.0f} edges/s"
        f" -> {versus(result['embed_per_second'], edge_rate)}"
    )
    print(
        f"    baseline plain UNWIND with vectors (falkordb-py parameters): {base['write_seconds']:.2f} s,"
        f" {result['write_per_second']:,.0f} edges/s -> {versus(result['write_per_second'], edge_rate)}"
    )
    print(
        f"    baseline embed + UNWIND: {result['baseline_per_second']:,.0f} edges/s"
        f" -> {versus(result['baseline_per_second'], edge_rate)}"
    )
    if graph is not None:
        reference = graph["baseline_relationships_per_second"]
        print(
            f"    the graph baseline's plain relationships (no vectors): {reference:,.0f}/s"
            f" -> {versus(reference, edge_rate)}"
        )
    print_slowest(run)


def print_change(change: dict[str, Any], full_build: float, results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n  1% change: {change['changed_rows']:,} of {change['total_rows']:,} current rows"
        f" ({change['share']:.2%}) in {len(change['columns'])} entities, one text column each;"
        f" {change['accepted']:,} carry the edit after the build"
    )
    print(
        f"    landing the changes {change['land_seconds']:.1f} s;"
        f" dbt build of what a refresh selects ({change['dbt_models_selected']} models and their tests):"
        f" {change['dbt_build_seconds']:.1f} s vs {full_build:.1f} s full"
        f" ({change['dbt_build_seconds'] / full_build:.0%});"
        f" deciding what to build {change['dbt_deciding_seconds']:.3f} s"
    )
    nothing = change["refresh_with_nothing_new"]
    print(
        f"    a refresh with nothing new: dbt {'runs' if nothing['dbt_runs'] else 'does not run'}"
        f" ({nothing['deciding_seconds']:.3f} s to decide)"
    )
    print(
        f"    {'store':10} {'incr s':>8} {'records':>9} {'full s':>8} {'full records':>12}"
        f" {'record share':>12} {'time ratio':>10}"
    )
    for kind, run in change["syncs"].items():
        full = results[kind]["full"]
        print(
            f"    {kind:10} {run.seconds:8.2f} {run.records:9,} {full.seconds:8.1f} {full.records:12,}"
            f" {run.records / max(full.records, 1):12.2%} {run.seconds / full.seconds:10.1%}"
        )
    print(f"    (change share {change['share']:.2%}: a ratio above it is the refresh's fixed overhead)")


def print_layers(full: dict[str, float], incremental: dict[str, float]) -> None:
    layers = ", ".join(
        f"{k} {full.get(k, 0.0):.1f} -> {incremental.get(k, 0.0):.1f} s" for k in {**full, **incremental}
    )
    print(f"    dbt node seconds by layer, full -> incremental (summed over its threads): {layers}")


PRINTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "graph": print_graph,
    "cache": print_cache,
    "vectors": print_vectors,
}


def print_report(args: argparse.Namespace, report: dict[str, Any]) -> None:
    stages, results = report["stages"], report["stores"]
    print(
        f"\nscale {args.scale:g}, seed {args.seed}: {report['current_rows']:,} current rows in"
        f" {len(report['entities'])} hub tables"
    )
    print("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages.items()))
    print("  baselines are fed records read from PostgreSQL beforehand: reading is not in their time\n")
    for kind, result in results.items():
        if kind == "timeline":
            print_timeline(result, results.get("graph"))
        else:
            PRINTERS[kind](result)
        print()
    print_change(report["change"], stages["dbt build (full)"], results)
    print_layers(report["dbt_layers"], report["change"]["dbt_layers"])


def machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_end": os.getloadavg(),
    }


def as_json(value: Any) -> Any:
    if isinstance(value, SyncRun):
        return value.as_json()
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


def write_results(args: argparse.Namespace, report: dict[str, Any]) -> Path:
    subset = "" if list(args.stores) == list(STORES) else "-" + "-".join(args.stores)
    subset += "-neo4j" if args.graph_server == "neo4j" else ""
    out = ROOT / "benchmarks" / "results" / f"stores-{args.scale:g}{subset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "scale": args.scale,
        "seed": args.seed,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **as_json(report),
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    return out


# -- main ------------------------------------------------------------------------------------------


def build_hubs(
    args: argparse.Namespace, settings: Settings, catalog: Catalog, stages: dict[str, float]
) -> dict[str, float]:
    """Generate, land and build the hubs (stages timed); the build's node seconds by layer."""
    folder = settings.home / "landing"
    _, stages["generate"] = timed(lambda: generate(args.scale, args.seed, folder))
    stages["land"] = land(settings, catalog, folder)
    stages["dbt build (full)"] = dbt_build(settings.home)
    return dbt_layers(settings.home)


def run(args: argparse.Namespace, settings: Settings, catalog: Catalog, stages: dict[str, float]) -> dict[str, Any]:
    """Build the hubs, sync and compare every store, then change 1% and refresh; the numbers."""
    layers = build_hubs(args, settings, catalog, stages)
    conn = connect(settings)
    try:
        counts = current_counts(conn, catalog)
        results = {}
        for kind in args.stores:
            print(f"syncing {kind} ...", flush=True)
            results[kind], stages[f"{kind}: sync + baselines"] = timed(
                lambda k=kind: BENCHES[k](settings, catalog, conn)
            )
        print("1% change ...", flush=True)
        change, stages["1% change"] = timed(
            lambda: bench_change(settings, catalog, conn, args.stores, sum(counts.values()))
        )
    finally:
        conn.close()
    return {
        "entities": counts,
        "current_rows": sum(counts.values()),
        "stages": stages,
        "dbt_layers": layers,
        "stores": results,
        "change": change,
    }


def main() -> None:
    args = parse_args()
    # Before DBT_TARGET_PATH is set: a stale manifest is re-parsed into dbt_project/target, where
    # hubs.catalog reads it (a parse under DBT_TARGET_PATH would write elsewhere).
    catalog = load_catalog()
    home = prepare_environment()
    settings = hubs_settings.load()
    started = time.perf_counter()
    stages: dict[str, float] = {}
    neo4j_server = None
    try:
        _, stages["start servers"] = timed(lambda: ensure_running(settings, list(SERVERS)))
        if args.graph_server == "neo4j":
            neo4j_server, stages["start neo4j"] = timed(lambda: start_neo4j(settings))
            settings = hubs_settings.load()  # now with HUBS_NEO4J_URI: the graph (and timeline) is Neo4j
        report = run(args, settings, catalog, stages)
        stages["total"] = time.perf_counter() - started
        print_report(args, report)
        out = write_results(args, report)
        print(f"\n  written to {out.relative_to(ROOT)}")
    except BuildFailed:
        args.keep = True  # leave the data to look at
        raise
    finally:
        if args.keep:
            urls = ", ".join(f"{n} {embedded_servers(settings)[n].url}" for n in SERVERS)
            urls += f", neo4j {neo4j_server.url}" if neo4j_server else ""
            print(f"servers left running: {urls} (HUBS_HOME={home})")
        else:
            if neo4j_server is not None:
                neo4j_server.stop()
            stop_servers(settings, home)


if __name__ == "__main__":
    main()
