"""Recall latency: p50/p95/p99 of each read operation next to the bare store call it wraps.

    python benchmarks/recall.py --scale 1 [--seed 42] [--questions 2000] [--clients 8,32] [--keep]

On private embedded servers (PostgreSQL, Redis, FalkorDB on free ports, Qdrant in local mode,
under a temporary HUBS_HOME; the offline embedder): generate, land, dbt build, a full sync of the
graph, the cache and the vectors. Then random questions, drawn from the data with a fixed seed,
are asked three ways in the same run:

* through `hubs.recall.Memory` (the Python API), timed one question at a time;
* as the bare store call the operation wraps, on a plain client of the same server:
  get: a Redis GET of the record's key (entities the cache holds; warmed first, so hits) or an
  indexed SELECT by primary key (the others); as_of: an indexed SELECT of the row valid at T;
  changes of one key: the union of the key's current and superseded rows
  (hubs.recall.history.beliefs_sql, without Memory around it); neighbours: a variable-length
  Cypher match `(a {key})-[*1..hops]-(b)`, LIMIT the same cap; search (hybrid, k=10, filtered
  by the entity and a status its rows have): the query's embedding and a Qdrant query_points of
  the semantic side alone with the same filter (on a copy of the local store); navigate and
  context wrap several calls and have no bare counterpart;
* over HTTP, against `hubs serve` in its own process (httpx, one kept-alive connection): what
  the HTTP layer adds at each percentile.

Then throughput over HTTP with N concurrent clients (threads, each its own connection) asking
get and neighbours for a few seconds each. Prints a table and writes
benchmarks/results/recall-<scale>.json: per operation (keyed by its name) p50/p95/p99 in ms
for api, bare and http, their ratios, and the clients' throughput. When a result of another
scale is there, prints how each p99 grew.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from qdrant_client import models

from benchmarks.stores import (
    PERCENTILES,
    SERVERS,
    build_hubs,
    free_port,
    machine,
    percentiles,
    prepare_environment,
    stop_servers,
    timed,
)
from hubs import settings as hubs_settings
from hubs.catalog import Catalog, Entity, load_catalog
from hubs.db import connect
from hubs.embeddings import embedder_from_env
from hubs.recall import history
from hubs.recall.inputs import DEFAULT_LIMIT
from hubs.recall.memory import Memory, settle
from hubs.recall.postgres import hub_table, key_condition
from hubs.servers import ensure_running
from hubs.settings import Settings
from hubs.sync.cache import record_key
from hubs.sync.connections import cache_client, graph_dialect
from hubs.sync.engine import sync
from hubs.sync.records import key_of
from hubs.sync.stores import opened
from hubs.sync.vectors import open_client

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SYNCED = ("graph", "cache", "vectors")
NEIGHBOUR_HOPS = 2
CLIENT_SECONDS = 5.0
SEARCH_K = 10
BARE_SEARCH_QUESTIONS = 200


@dataclass(frozen=True)
class Question:
    entity: Entity
    key: str  # the hubs key (composite parts joined by '|')
    parts: tuple[Any, ...]  # the primary key's values, in order
    at: datetime | None = None  # a valid time inside one of the key's versions
    text: str = ""  # search: the words asked
    status: str | None = None  # search: a status the entity's rows have
    name: str = ""  # navigate: the navigation


@dataclass
class Operation:
    """One read operation: how the API, the bare store and HTTP ask a question."""

    name: str
    questions: list[Question]  # (replace() of a Question carries the search and navigate fields)
    api: Callable[[Memory, Question], Any]
    bare: Callable[[Question], Any] | None
    path: Callable[[Question], str]
    bare_questions: int = 0  # ask the bare call only the first N (0: all)


# -- questions -------------------------------------------------------------------------------------


def relation(entity: Entity) -> sql.Identifier:
    """Where an entity's versions are: an SCD-2 entity's history table, else the hub table."""
    return sql.Identifier(entity.schema, entity.table + ("_history" if entity.history == "scd2" else ""))


def sample_keys(conn: Connection, entity: Entity, count: int, seed: float) -> list[Question]:
    """`count` random current rows of the entity (a valid time inside each for temporal ones)."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in entity.primary_key)
    extra = sql.SQL(", valid_from, valid_to") if entity.temporal else sql.SQL("")
    with conn.cursor() as cur:
        cur.execute("select setseed(%s)", (seed,))
        cur.execute(
            sql.SQL("select {}{} from {} order by random() limit %s").format(columns, extra, relation(entity)),
            (count,),
        )
        rows = cur.fetchall()
    conn.rollback()
    width = len(entity.primary_key)
    questions = []
    for row in rows:
        parts = tuple(row[:width])
        key = key_of(entity, dict(zip(entity.primary_key, parts, strict=True)))
        at = None
        if entity.temporal:
            start, end = row[width], row[width + 1]
            at = start + ((end - start) / 2 if end else timedelta(seconds=1))
        questions.append(Question(entity, key, parts, at))
    return questions


def spread(conn: Connection, entities: list[Entity], count: int, rng: random.Random) -> list[Question]:
    """About `count` questions spread evenly over the entities, shuffled."""
    per = max(1, count // max(1, len(entities)))
    questions = [q for e in entities for q in sample_keys(conn, e, per, rng.random())]
    rng.shuffle(questions)
    return questions[:count]


def search_questions(conn: Connection, catalog: Catalog, count: int, rng: random.Random) -> list[Question]:
    """Words from the searchable rows' own text, each asked of its row's entity, with one of the
    statuses that entity's rows have where its vectors carry a status (filters, as the issue asks)."""
    questions = []
    for entity in [e for e in catalog.entities if e.vectors]:
        status = "status" in entity.vectors.payload
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in (*entity.primary_key, entity.vectors.text[0]))
        extra = sql.SQL(", status::text") if status else sql.SQL(", null")
        with conn.cursor() as cur:
            cur.execute("select setseed(%s)", (rng.random(),))
            cur.execute(
                sql.SQL("select {}{} from {} order by random() limit %s").format(columns, extra, hub_table(entity)),
                (max(1, count // 8),),
            )
            rows = cur.fetchall()
        conn.rollback()
        width = len(entity.primary_key)
        for row in rows:
            words = [w.strip(".,;:()") for w in str(row[width] or "").split() if len(w) > 4]
            if words:
                parts = tuple(row[:width])
                key = key_of(entity, dict(zip(entity.primary_key, parts, strict=True)))
                text = " ".join(rng.sample(words, min(2, len(words))))
                questions.append(Question(entity, key, parts, text=text, status=row[width + 1]))
    rng.shuffle(questions)
    return questions[:count]


def navigate_questions(conn: Connection, catalog: Catalog, count: int, rng: random.Random) -> list[Question]:
    """Start keys of each navigation, spread evenly over them."""
    navigations = sorted(catalog.navigations.values(), key=lambda n: n.name)
    per = max(1, count // max(1, len(navigations)))
    questions = []
    for nav in navigations:
        entity = catalog.by_model(nav.start_model)
        questions += [replace(q, name=nav.name) for q in sample_keys(conn, entity, per, rng.random())]
    rng.shuffle(questions)
    return questions[:count]


# -- bare calls ------------------------------------------------------------------------------------


class Bare:
    """The store calls the operations wrap, on plain clients of the same servers."""

    def __init__(self, settings: Settings) -> None:
        self.conn = connect(settings, autocommit=True)
        self.redis = cache_client(settings, start=False)
        self.graph = graph_dialect(settings)
        self.embedder = embedder_from_env()
        self.copy = Path(tempfile.mkdtemp(prefix="recall-bare-qdrant-"))
        shutil.copytree(settings.home / "qdrant", self.copy / "qdrant")
        self.qdrant = open_client(None, self.copy / "qdrant")

    def select(self, query: sql.Composable, params: Any) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()

    def get(self, q: Question) -> Any:
        if q.entity.cache:
            return self.redis.get(record_key(q.entity, q.key))
        query = sql.SQL("select t.* from {} as t where {}").format(hub_table(q.entity), key_condition(q.entity, "t"))
        return self.select(query, q.parts)

    def as_of(self, q: Question) -> Any:
        query = sql.SQL(
            "select t.* from {} as t where {} and t.valid_from <= %s and (t.valid_to is null or t.valid_to > %s)"
        )
        return self.select(query.format(relation(q.entity), key_condition(q.entity, "t")), (*q.parts, q.at, q.at))

    def changes(self, q: Question) -> Any:
        history_table = q.entity.history == "scd2"
        where = key_condition(q.entity, "t")
        query = history.beliefs_sql(q.entity, history_table, where)
        # key_condition's placeholders are positional: once for the relation, once for superseded
        return self.select(query, (*q.parts, *q.parts))

    def neighbours(self, q: Question) -> Any:
        cypher = (
            f"MATCH (a:{q.entity.label} {{key: $key}})-[*1..{NEIGHBOUR_HOPS}]-(b) "
            "RETURN DISTINCT labels(b)[0], b.key LIMIT $cap"
        )
        return self.graph.read(cypher, {"key": q.key, "cap": DEFAULT_LIMIT + 1})

    def search(self, q: Question) -> Any:
        """The query's embedding and a Qdrant query of its entity's collection with the same
        filter, on a copy of the local store (the API's own snapshot is not disturbed)."""
        must = [models.FieldCondition(key="entity", match=models.MatchValue(value=q.entity.model))]
        if q.status is not None:
            must.append(models.FieldCondition(key="status", match=models.MatchAny(any=[q.status])))
        vector = self.embedder.embed_one(q.text)
        collection = f"{q.entity.vectors.collection}__{self.embedder.slug}"
        return self.qdrant.query_points(collection, query=vector, query_filter=models.Filter(must=must), limit=SEARCH_K)

    def close(self) -> None:
        self.conn.close()
        self.redis.close()
        self.qdrant.close()
        shutil.rmtree(self.copy, ignore_errors=True)


# -- timing ----------------------------------------------------------------------------------------


def time_each(questions: list[Question], ask: Callable[[Question], Any]) -> dict[str, float]:
    samples = []
    for q in questions:
        started = time.perf_counter()
        ask(q)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


class Server:
    """`hubs serve` in a process of its own, on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("hubs")), "serve", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("hubs serve did not answer /health within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def http_asker(client: httpx.Client, operation: Operation) -> Callable[[Question], Any]:
    def ask(q: Question) -> Any:
        response = client.get(operation.path(q))
        if response.status_code != 200:
            raise SystemExit(f"{operation.name}: HTTP {response.status_code} {response.text[:200]}")
        return response.content

    return ask


def clients(url: str, operation: Operation, count: int, seconds: float) -> dict[str, float]:
    """`count` threads asking the operation's questions over HTTP for `seconds`: answers per second."""
    samples: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(offset: int) -> None:
        own: list[float] = []
        with httpx.Client(base_url=url, timeout=30) as client:
            ask = http_asker(client, operation)
            i = offset
            while time.monotonic() < stop:
                started = time.perf_counter()
                ask(operation.questions[i % len(operation.questions)])
                own.append(time.perf_counter() - started)
                i += 1
        with lock:
            samples.extend(own)

    threads = [threading.Thread(target=work, args=(i * 97,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"clients": count, "per_second": round(len(samples) / seconds, 1)} | percentiles(samples)


# -- the operations --------------------------------------------------------------------------------


def key_path(q: Question) -> str:
    return f"/entities/{q.entity.name}/{quote(q.key, safe='')}"


def ask_search(memory: Memory, q: Question) -> Any:
    return memory.search(q.text, entities=[q.entity.name], status=[q.status] if q.status else None, k=SEARCH_K)


def search_path(q: Question) -> str:
    status = f"&status={quote(q.status, safe='')}" if q.status else ""
    return f"/search?q={quote(q.text, safe='')}&entity={q.entity.name}&k={SEARCH_K}{status}"


def iso(moment: datetime | None) -> str:
    return quote((moment or datetime.now(UTC)).astimezone(UTC).isoformat(), safe="")


def operations(conn: Connection, catalog: Catalog, bare: Bare, count: int, rng: random.Random) -> list[Operation]:
    entities = catalog.entities
    cached = [e for e in entities if e.cache]
    uncached = [e for e in entities if not e.cache]
    temporal = [e for e in entities if e.temporal]
    related = [e for e in entities if e.relationships]
    return [
        Operation(
            "get",
            spread(conn, cached, count, rng),
            lambda m, q: m.get(q.entity.name, q.key),
            bare.get,
            key_path,
        ),
        Operation(
            "get_uncached",
            spread(conn, uncached, count, rng),
            lambda m, q: m.get(q.entity.name, q.key),
            bare.get,
            key_path,
        ),
        Operation(
            "as_of",
            spread(conn, temporal, count, rng),
            lambda m, q: m.as_of(q.entity.name, q.key, q.at),
            bare.as_of,
            lambda q: f"{key_path(q)}/as-of?valid_at={iso(q.at)}",
        ),
        Operation(
            "changes",
            spread(conn, entities, count, rng),
            lambda m, q: m.changes(q.entity.name, 0, key=q.key),
            bare.changes,
            lambda q: f"/changes/{q.entity.name}?since=0&key={quote(q.key, safe='')}",
        ),
        Operation(
            "search",
            search_questions(conn, catalog, count, rng),
            ask_search,
            bare.search,
            search_path,
            # local mode scans every point in Python: ~0.3-1 s a question at scale 1
            BARE_SEARCH_QUESTIONS,
        ),
        Operation(
            "navigate",
            navigate_questions(conn, catalog, count, rng),
            lambda m, q: m.navigate(q.name, q.key),
            None,
            lambda q: f"/navigate/{q.name}/{quote(q.key, safe='')}",
        ),
        Operation(
            "context",
            spread(conn, related, count // 4, rng),
            lambda m, q: m.context(q.entity.name, q.key),
            None,
            lambda q: f"{key_path(q)}/context",
        ),
        Operation(
            "neighbours",
            spread(conn, related, count, rng),
            lambda m, q: m.neighbours(q.entity.name, q.key, hops=NEIGHBOUR_HOPS),
            bare.neighbours,
            lambda q: f"{key_path(q)}/neighbours?hops={NEIGHBOUR_HOPS}",
        ),
    ]


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def measure(operation: Operation, memory: Memory, client: httpx.Client) -> dict[str, Any]:
    """Warm once (fills the cache, pools, plans), then API, bare and HTTP over the same questions."""
    for q in operation.questions:
        operation.api(memory, q)
    api = time_each(operation.questions, lambda q: operation.api(memory, q))
    asked = operation.questions[: operation.bare_questions or None]
    bare = time_each(asked, operation.bare) if operation.bare else {}
    http = time_each(operation.questions, http_asker(client, operation))
    result: dict[str, Any] = {"api": api, "bare": bare, "http": http}
    for p in PERCENTILES:
        name = f"p{p}"
        result[name] = api.get(name)
        result[f"{name}_vs_bare"] = ratio(api.get(name), bare.get(name))
        result[f"{name}_http_adds"] = round(http[name] - api[name], 3)
    return result


def run(args: argparse.Namespace, settings: Settings, catalog: Catalog, stages: dict[str, float]) -> dict[str, Any]:
    build_hubs(args, settings, catalog, stages)
    conn = connect(settings)
    try:
        for kind in SYNCED:
            print(f"syncing {kind} ...", flush=True)
            with opened(kind, settings, catalog) as store:
                _, stages[f"{kind} sync"] = timed(lambda s=store: sync(s, conn, catalog, full=True))
        bare = Bare(settings)  # after the vector sync: it copies the local Qdrant store
        rng = random.Random(args.seed)
        ops = operations(conn, catalog, bare, args.questions, rng)
    finally:
        conn.close()
    server = Server()
    results: dict[str, Any] = {}
    throughput: dict[str, list[dict[str, float]]] = {}
    try:
        with Memory(settings, catalog) as memory, httpx.Client(base_url=server.url, timeout=30) as client:
            settle()  # as `hubs serve` does once its Memory is made
            for operation in ops:
                print(f"asking {operation.name} ({len(operation.questions)} questions) ...", flush=True)
                results[operation.name], stages[operation.name] = timed(lambda o=operation: measure(o, memory, client))
        for operation in ops:
            if operation.name in ("get", "neighbours"):
                throughput[operation.name] = [clients(server.url, operation, n, CLIENT_SECONDS) for n in args.clients]
    finally:
        server.stop()
        bare.close()
    return {"operations": results, "throughput": throughput, "stages": stages}


# -- report ----------------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    print(f"\n{'operation':<14}{'':>6}{'p50':>9}{'p95':>9}{'p99':>9}   (ms)")
    for name, result in report["operations"].items():
        for way in ("api", "bare", "http"):
            row = result[way]
            if row:
                cells = "".join(f"{row[f'p{p}']:>9.2f}" for p in PERCENTILES)
                print(f"{name if way == 'api' else '':<14}{way:>6}{cells}")
        if result["bare"]:
            print(f"{'':<14}{'ratio':>6}" + "".join(f"{result[f'p{p}_vs_bare']:>8.2f}x" for p in PERCENTILES))
    print("\nconcurrent clients over HTTP")
    for name, rows in report["throughput"].items():
        for row in rows:
            print(f"  {name:<12} {row['clients']:>3} clients: {row['per_second']:>8.1f}/s, p99 {row['p99']:.1f} ms")


def print_growth(report: dict[str, Any], scale: float) -> None:
    for other in sorted(RESULTS.glob("recall-*.json")):
        earlier = json.loads(other.read_text())
        if earlier.get("scale") == scale:
            continue
        print(f"\np99 at scale {scale} against scale {earlier['scale']} ({other.name})")
        for name, result in report["operations"].items():
            before = earlier.get("operations", {}).get(name, {}).get("p99")
            if before:
                print(f"  {name:<14}{before:>8.2f} -> {result['p99']:>8.2f} ms ({result['p99'] / before:.2f}x)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--questions", type=int, default=2000, help="per operation")
    parser.add_argument("--clients", default="8,32", help="concurrent HTTP clients, comma-separated")
    parser.add_argument("--keep", action="store_true", help="leave the servers and data folder (prints where)")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    return args


def main() -> None:
    args = parse_args()
    catalog = load_catalog()
    home = prepare_environment()
    settings = hubs_settings.load()
    stages: dict[str, float] = {}
    try:
        _, stages["start servers"] = timed(lambda: ensure_running(settings, list(SERVERS)))
        report = run(args, settings, catalog, stages)
        report = {"scale": args.scale, "seed": args.seed, "questions": args.questions} | report
        report |= {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
        print_report(report)
        print_growth(report, args.scale)
        out = RESULTS / f"recall-{args.scale:g}.json"
        out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"\n  written to {out.relative_to(ROOT)}")
    finally:
        if args.keep:
            print(f"servers left running (HUBS_HOME={home})")
        else:
            stop_servers(settings, home)


if __name__ == "__main__":
    main()
