"""Real servers, no mocks: one embedded PostgreSQL (and Redis/FalkorDB where needed) for the
whole session under a temporary HUBS_HOME on free ports, a template database built once from
generated data, and a fresh copy of it for every test that changes data."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest

from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.generate import EXPECTED_FILE, generate
from hubs.landing.loader import load_paths
from hubs.servers import embedded_servers, ensure_running
from tests.helpers import run_dbt

TEMPLATE_DB = "hubs_template"
TEST_SCALE = 0.02
TEST_SEED = 7


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def hubs_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HUBS_HOME and embedded-server ports of the session (the developer's .hubs is untouched)."""
    home = tmp_path_factory.mktemp("hubs-home")
    saved = {
        k: os.environ.get(k)
        for k in (
            "HUBS_HOME",
            "HUBS_POSTGRES_PORT",
            "HUBS_REDIS_PORT",
            "HUBS_FALKORDB_PORT",
            "HUBS_POSTGRES_URL",
            "HUBS_REDIS_URL",
            "HUBS_FALKORDB_URL",
            "HUBS_NEO4J_URI",
            "HUBS_QDRANT_URL",
            "HUBS_DAGSTER_POSTGRES_URL",
            "HUBS_LEGACY_URL",
            "HUBS_MIGRATION_APPROVALS",
        )
    }
    for key in saved:
        os.environ.pop(key, None)
    os.environ["HUBS_HOME"] = str(home)
    os.environ["HUBS_POSTGRES_PORT"] = str(free_port())
    os.environ["HUBS_REDIS_PORT"] = str(free_port())
    os.environ["HUBS_FALKORDB_PORT"] = str(free_port())
    # dbt's compiled files and partial-parse state for tests stay out of dbt_project/target.
    os.environ["DBT_TARGET_PATH"] = str(home / "dbt-target")
    yield home
    for server in embedded_servers(hubs_settings.load()).values():
        server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def postgres_server(hubs_home: Path) -> str:
    settings = hubs_settings.load()
    ensure_running(settings, ["postgres"])
    return f"postgresql://postgres@127.0.0.1:{settings.postgres_port}"


def admin(server: str, statement: str) -> None:
    conn = psycopg2.connect(f"{server}/postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The generated dataset used everywhere (small scale, fixed seed)."""
    folder = tmp_path_factory.mktemp("generated")
    generate(TEST_SCALE, TEST_SEED, folder)
    return folder, json.loads((folder / EXPECTED_FILE).read_text())


@pytest.fixture(scope="session")
def template_db(postgres_server: str, generated: tuple[Path, dict]) -> str:
    """A database with the generated data landed and built; tests clone it."""
    admin(postgres_server, f"create database {TEMPLATE_DB}")
    url = f"{postgres_server}/{TEMPLATE_DB}"
    os.environ["HUBS_POSTGRES_URL"] = url
    try:
        results = load_paths(hubs_settings.load(), load_catalog(), [generated[0]])
        assert all(r.status == "loaded" for r in results), results
        build = run_dbt(["build"], url)
        assert build.returncode == 0, build.stdout[-4000:]
    finally:
        os.environ.pop("HUBS_POSTGRES_URL", None)
    return url


@contextmanager
def private_database(server: str, monkeypatch: pytest.MonkeyPatch, prefix: str, template: str = "") -> Iterator[str]:
    """A database of the test's own (a copy of `template` if given); HUBS_POSTGRES_URL points at it.

    The name is the same for every test of a kind, so dbt's profile does not change between
    tests and its partial parsing stays valid (a changed profile means a full parse)."""
    name = f"{prefix}{os.getpid()}"
    admin(server, f"create database {name}" + (f" template {template}" if template else ""))
    url = f"{server}/{name}"
    monkeypatch.setenv("HUBS_POSTGRES_URL", url)
    try:
        yield url
    finally:
        admin(server, f"drop database if exists {name} with (force)")


@pytest.fixture
def db(postgres_server: str, template_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private copy of the built template."""
    with private_database(postgres_server, monkeypatch, "t", TEMPLATE_DB) as url:
        yield url


@pytest.fixture
def empty_db(postgres_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty database (nothing landed, nothing built)."""
    with private_database(postgres_server, monkeypatch, "e") as url:
        yield url


@pytest.fixture
def landing_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


# -- derived stores ------------------------------------------------------------------------------
# Store tests sync a smaller dataset (every entity still has rows) from a private copy, into
# stores they empty first, so each test starts from a known state and may break its stores.

STORES_TEMPLATE_DB = "hubs_stores_template"
STORES_SCALE = 0.005


@pytest.fixture(scope="session")
def stores_template(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("generated-small")
    generate(STORES_SCALE, TEST_SEED, folder)
    admin(postgres_server, f"create database {STORES_TEMPLATE_DB}")
    url = f"{postgres_server}/{STORES_TEMPLATE_DB}"
    os.environ["HUBS_POSTGRES_URL"] = url
    try:
        results = load_paths(hubs_settings.load(), load_catalog(), [folder])
        assert all(r.status == "loaded" for r in results), results
        build = run_dbt(["build", "--exclude", "tag:validation", "tag:legacy"], url)
        assert build.returncode == 0, build.stdout[-4000:]
    finally:
        os.environ.pop("HUBS_POSTGRES_URL", None)
    return url


@pytest.fixture
def stores_db(postgres_server: str, stores_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private copy of the small built dataset, for tests of the derived stores."""
    with private_database(postgres_server, monkeypatch, "s", STORES_TEMPLATE_DB) as url:
        yield url


@pytest.fixture(scope="session")
def neo4j_uri(hubs_home: Path) -> Iterator[str]:
    """A real Neo4j Community 5.26 for the session (built with Maven on first use)."""
    from hubs.servers.neo4j import Neo4jServer

    server = Neo4jServer(hubs_settings.load(), free_port())
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(params=["falkordb", "neo4j"])
def graph_backend(request: pytest.FixtureRequest, hubs_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once against the embedded FalkorDB and once against Neo4j."""
    if request.param == "neo4j":
        monkeypatch.setenv("HUBS_NEO4J_URI", request.getfixturevalue("neo4j_uri"))
        monkeypatch.setenv("HUBS_NEO4J_PASSWORD", "")
    else:
        monkeypatch.delenv("HUBS_NEO4J_URI", raising=False)
    return request.param


def use_graph_server(request: pytest.FixtureRequest, patch: pytest.MonkeyPatch) -> None:
    """The graph server a module-scoped fixture's parameter names ("falkordb" | "neo4j"), and the
    offline embedder, whatever the developer's shell says."""
    if request.param == "neo4j":
        patch.setenv("HUBS_NEO4J_URI", request.getfixturevalue("neo4j_uri"))
        patch.setenv("HUBS_NEO4J_PASSWORD", "")
    else:
        patch.delenv("HUBS_NEO4J_URI", raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HUBS_EMBEDDER"):
        patch.delenv(name, raising=False)


@contextmanager
def module_bench(request: pytest.FixtureRequest, postgres_server: str, prefix: str) -> Iterator[StoreBench]:
    """For module-scoped fixtures parametrised by graph server ("falkordb" | "neo4j"): a private
    copy of the small dataset, the graph server the parameter names, the offline embedder."""
    with pytest.MonkeyPatch.context() as patch:
        use_graph_server(request, patch)
        with private_database(postgres_server, patch, f"{prefix}{request.param[0]}", STORES_TEMPLATE_DB):
            settings = hubs_settings.load()
            ensure_running(settings, [] if settings.neo4j_uri else ["graph"])
            bench = StoreBench()
            try:
                yield bench
            finally:
                bench.close()


@pytest.fixture
def offline_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores opened from now on embed with the offline model, whatever the developer's shell says."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HUBS_EMBEDDER"):
        monkeypatch.delenv(name, raising=False)


def empty_stores() -> None:
    """The session's stores hold what earlier tests synced from other databases: start empty."""
    from hubs.sync.stores import STORES, opened

    catalog = load_catalog()
    for kind in STORES:
        with opened(kind, hubs_settings.load(), catalog) as store:
            store.clear(catalog)


class StoreBench:
    """Stores synced from the test's database; each is emptied and rebuilt on first use."""

    def __init__(self) -> None:
        from hubs.db import connect

        self.settings = hubs_settings.load()
        self.catalog = load_catalog()
        self.conn = connect(self.settings)
        self.opened: dict[str, object] = {}

    def store(self, kind: str):
        from hubs.sync.stores import open_store

        if kind not in self.opened:
            self.opened[kind] = open_store(kind, self.settings, self.catalog)
        return self.opened[kind]

    def sync(self, kind: str, full: bool = False, entities: list[str] | None = None) -> list:
        from hubs.sync.engine import sync

        return sync(self.store(kind), self.conn, self.catalog, entities=entities, full=full)

    def holding_only(self, kind: str, entities: list[str]) -> list:
        """The whole store emptied, then these entities filled (a full sync of a subset empties
        only that subset: the rest may hold what earlier tests synced from other databases)."""
        self.store(kind).clear(self.catalog)
        return self.sync(kind, full=True, entities=entities)

    def synced(self, kind: str):
        """The store, emptied and filled from PostgreSQL."""
        self.sync(kind, full=True)
        return self.store(kind)

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
        self.conn.commit()
        return rows

    def context(self):
        """A check context over the same connections (the bench closes them)."""
        from hubs.checks.base import CheckContext

        context = CheckContext(self.conn, self.catalog, self.settings)
        context._stores = self.opened
        return context

    def run_check(self, name: str):
        from hubs.checks.base import REGISTRY  # the package registers every check on import

        found = [c for c in REGISTRY if c.name == name]
        assert len(found) == 1, f"no single check named {name}"
        return found[0].run(self.context())

    def release(self) -> None:
        """Close the stores (the local Qdrant folder admits one client at a time); reopened on use."""
        for store in self.opened.values():
            store.close()
        self.opened.clear()

    def close(self) -> None:
        self.release()
        self.conn.close()


@pytest.fixture
def bench(stores_db: str, hubs_home: Path) -> Iterator[StoreBench]:
    """Derived stores over the test's own small database (pair with `graph_backend` for the graph
    and the timeline on both servers)."""
    settings = hubs_settings.load()
    ensure_running(settings, ["cache"] + ([] if settings.neo4j_uri else ["graph"]))
    bench = StoreBench()
    try:
        yield bench
    finally:
        bench.close()
