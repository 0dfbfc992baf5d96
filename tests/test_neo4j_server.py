"""The embedded Neo4j Community 5.26: a real DBMS over Bolt, clean stops, clear failures.

The first test to start it builds scripts/neo4j with Maven when CI has not done so
(`python -m hubs.servers.neo4j build`).
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import neo4j
import psutil
import pytest

from hubs import settings as hubs_settings
from hubs.servers import ServerError
from hubs.servers import neo4j as neo4j_server
from hubs.servers.neo4j import Neo4jServer
from tests.conftest import free_port


@pytest.fixture
def own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> hubs_settings.Settings:
    monkeypatch.setenv("HUBS_HOME", str(tmp_path / "home"))
    return hubs_settings.load()


@pytest.fixture
def server(own_home: hubs_settings.Settings) -> Iterator[Neo4jServer]:
    server = Neo4jServer(own_home, free_port())
    yield server
    server.stop()


def family(pid: int) -> list[int]:
    parent = psutil.Process(pid)
    return [parent.pid, *(p.pid for p in parent.children(recursive=True))]


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_cypher_over_bolt_and_a_clean_stop(server: Neo4jServer, own_home: hubs_settings.Settings) -> None:
    assert server.start()
    assert not server.start()  # idempotent
    status = server.status()
    assert status.running and status.pid and status.url == f"bolt://127.0.0.1:{server.port}"
    assert (own_home.run_dir / "neo4j.json").exists()
    assert status.data_dir == own_home.home / "neo4j"
    pids = family(status.pid)
    # Bolt on loopback only, and no other port (no HTTP, no routing port).
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in psutil.Process(status.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert {port for _, port in listening} == {server.port}
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1") for ip, _ in listening)

    with neo4j.GraphDatabase.driver(server.url, auth=None) as driver:
        records, _, _ = driver.execute_query("CALL dbms.components() YIELD versions, edition RETURN *")
        assert records[0]["versions"][0].startswith("5.26.") and records[0]["edition"] == "community"
        driver.execute_query("CREATE CONSTRAINT probe_key IF NOT EXISTS FOR (n:Probe) REQUIRE n.key IS UNIQUE")
        summary = driver.execute_query(
            "UNWIND $rows AS row MERGE (n:Probe {key: row.key}) SET n.name = row.name",
            rows=[{"key": i, "name": f"probe {i}"} for i in range(1000)],
        ).summary
        assert summary.counters.nodes_created == 1000
        # MERGE again creates nothing: the keys are there.
        summary = driver.execute_query("UNWIND range(0, 999) AS k MERGE (:Probe {key: k})").summary
        assert summary.counters.nodes_created == 0
        driver.execute_query(
            "MATCH (a:Probe {key: 1}), (b:Probe {key: 2}) "
            "CREATE (a)-[:LINKS {weight: 0.5, since: date('2024-01-02')}]->(b)"
        )
        records, _, _ = driver.execute_query("MATCH (n:Probe) RETURN count(n) AS n, sum(n.key) AS total")
        assert (records[0]["n"], records[0]["total"]) == (1000, sum(range(1000)))
        records, _, _ = driver.execute_query(
            "MATCH (a:Probe)-[r:LINKS]->(b:Probe) RETURN a.key AS a, b.name AS b, r.weight AS w, r.since AS since"
        )
        assert len(records) == 1
        assert (records[0]["a"], records[0]["b"], records[0]["w"]) == (1, "probe 2", 0.5)
        assert str(records[0]["since"]) == "2024-01-02"
        with pytest.raises(neo4j.exceptions.ConstraintError):
            driver.execute_query("CREATE (:Probe {key: 5})")
        records, _, _ = driver.execute_query(
            "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties, ownedIndex WHERE name = $name RETURN *",
            name="probe_key",
        )
        assert len(records) == 1
        constraint = records[0]
        assert constraint["type"] == "UNIQUENESS"
        assert (constraint["labelsOrTypes"], constraint["properties"]) == (["Probe"], ["key"])
        records, _, _ = driver.execute_query(
            "SHOW INDEXES YIELD name, state WHERE name = $index RETURN state", index=constraint["ownedIndex"]
        )
        assert [r["state"] for r in records] == ["ONLINE"]

    assert server.stop()
    assert not server.stop()
    assert not server.status().running
    assert not (own_home.run_dir / "neo4j.json").exists()
    assert not alive(pids)
    assert "READY bolt://127.0.0.1:" in (own_home.home / "logs" / "neo4j.log").read_text()


def test_data_survives_a_restart(server: Neo4jServer) -> None:
    # Started from a process that ignores SIGTERM (a shell's background job ignores SIGINT, and
    # Dagster maps SIGTERM to SIGINT's handler): the server must still stop cleanly on it.
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        server.start()
    finally:
        signal.signal(signal.SIGTERM, previous)
    with neo4j.GraphDatabase.driver(server.url, auth=None) as driver:
        driver.execute_query("CREATE CONSTRAINT kept_key IF NOT EXISTS FOR (n:Kept) REQUIRE n.key IS UNIQUE")
        driver.execute_query("CREATE (:Kept {key: 42})")
    server.stop()
    assert server.start()
    with neo4j.GraphDatabase.driver(server.url, auth=None) as driver:
        records, _, _ = driver.execute_query("MATCH (n:Kept) RETURN n.key AS key")
        assert [r["key"] for r in records] == [42]
        records, _, _ = driver.execute_query("SHOW CONSTRAINTS YIELD name RETURN name")
        assert "kept_key" in [r["name"] for r in records]
    # SIGTERM shut the DBMS down cleanly (checkpoint, shutdown hook): the restart needed no
    # recovery from the transaction logs, which Neo4j does (and logs so) after a kill -9.
    debug_log = (server.data_dir / "logs" / "debug.log").read_text()
    assert "Shutdown started" in debug_log
    assert "Recovery required" not in debug_log


class BrokenNeo4j(Neo4jServer):
    def command(self) -> list[str]:
        return [*super().command(), "--no-such-option"]


def test_a_launcher_that_fails_shows_its_log(own_home: hubs_settings.Settings) -> None:
    server = BrokenNeo4j(own_home, free_port())
    with pytest.raises(ServerError) as error:
        server.start()
    message = str(error.value)
    assert "exited with code 2" in message and "unknown argument --no-such-option" in message
    assert not server.status().running


def test_the_page_cache_is_a_setting_and_a_bad_one_is_named(
    own_home: hubs_settings.Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = Neo4jServer(own_home, free_port())
    assert server.command()[-2:] == ["--pagecache-mb", "256"]
    monkeypatch.setenv("HUBS_NEO4J_PAGE_CACHE_MB", "4096")
    assert server.command()[-2:] == ["--pagecache-mb", "4096"]
    monkeypatch.setenv("HUBS_NEO4J_PAGE_CACHE_MB", "4g")
    with pytest.raises(ValueError, match="HUBS_NEO4J_PAGE_CACHE_MB='4g' is not a size in MB"):
        server.command()


def test_missing_java_is_named(own_home: hubs_settings.Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    server = Neo4jServer(own_home, free_port())
    with pytest.raises(ServerError, match="java is not installed"):
        server.start()
    assert not server.status().running


def test_a_failed_maven_build_shows_the_compiler_error(tmp_path: Path) -> None:
    sources = tmp_path / "neo4j"
    shutil.copytree(neo4j_server.LAUNCHER_DIR, sources, ignore=shutil.ignore_patterns("target"))
    launcher = sources / "src" / "main" / "java" / "hubs" / "neo4j" / "Launcher.java"
    launcher.write_text(launcher.read_text().replace("public static void main", "public static void mane(", 1))
    with pytest.raises(ServerError) as error:
        neo4j_server.build(sources)
    message = str(error.value)
    assert "Maven failed to build the Neo4j launcher" in message and "COMPILATION ERROR" in message
    assert not neo4j_server.is_built(sources)
