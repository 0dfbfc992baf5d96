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
