"""`hubs up | down | status`: real server processes, clean stops, clear failures."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis

from hubs import settings as hubs_settings
from hubs.servers import ServerError, embedded_servers
from hubs.servers.redis import CacheServer
from tests.conftest import free_port

# A comma (PostgreSQL's list separator), a space, quotes and non-ASCII: all legal in a folder name.
AWKWARD_HOME = 'ops, team\'s "hubs" café'


@pytest.fixture
def own_home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> hubs_settings.Settings:
    """A HUBS_HOME and ports of this test alone (its folder name may be given as a parameter)."""
    monkeypatch.setenv("HUBS_HOME", str(tmp_path / getattr(request, "param", "home")))
    for name in ("HUBS_POSTGRES_PORT", "HUBS_REDIS_PORT", "HUBS_FALKORDB_PORT"):
        monkeypatch.setenv(name, str(free_port()))
    for name in ("HUBS_POSTGRES_URL", "HUBS_REDIS_URL", "HUBS_FALKORDB_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = hubs_settings.load()
    yield settings
    for server in embedded_servers(settings).values():
        server.stop()


def family(pid: int) -> list[int]:
    parent = psutil.Process(pid)
    return [parent.pid, *(p.pid for p in parent.children(recursive=True))]


@pytest.mark.parametrize("own_home", ["home", AWKWARD_HOME], indirect=True)
def test_up_status_down_leaves_no_process_behind(own_home: hubs_settings.Settings) -> None:
    servers = embedded_servers(own_home)
    assert [s.start() for s in servers.values()] == [True, True, True]
    assert [s.start() for s in servers.values()] == [False, False, False]  # idempotent
    pids = []
    for server in servers.values():
        status = server.status()
        assert status.running and status.pid
        pids += family(status.pid)
        assert (own_home.run_dir / f"{server.name}.json").exists()
    assert len(pids) > 3  # postgres forks its background workers
    redis.Redis(port=own_home.redis_port).set("k", "v")
    assert redis.Redis(port=own_home.falkordb_port).execute_command("GRAPH.QUERY", "g", "RETURN 1")
    for server in servers.values():
        assert server.stop()
        assert not server.status().running
        assert not (own_home.run_dir / f"{server.name}.json").exists()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_postgres_keeps_its_data_across_a_restart(own_home: hubs_settings.Settings) -> None:
    server = embedded_servers(own_home)["postgres"]
    server.start()
    conn = psycopg2.connect(server.url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("create table kept (x int); insert into kept values (42); create extension btree_gist")
    conn.close()
    server.stop()
    server.start()
    conn = psycopg2.connect(server.url)
    with conn.cursor() as cur:
        cur.execute("select x from kept")
        assert cur.fetchone() == (42,)
    conn.close()


def test_cache_evicts_and_graph_never_does(own_home: hubs_settings.Settings) -> None:
    servers = embedded_servers(own_home)
    servers["cache"].start()
    servers["graph"].start()
    cache = redis.Redis(port=own_home.redis_port).config_get("maxmemory-policy")
    graph = redis.Redis(port=own_home.falkordb_port).config_get("maxmemory-policy")
    assert cache["maxmemory-policy"] == "volatile-lru"
    assert graph["maxmemory-policy"] == "noeviction"


def test_taken_port_is_named_with_the_variable_to_change(own_home: hubs_settings.Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", own_home.redis_port))
        squatter.listen()
        with pytest.raises(ServerError) as error:
            embedded_servers(own_home)["cache"].start()
    message = str(error.value)
    assert f"port {own_home.redis_port} is taken" in message and "HUBS_REDIS_PORT" in message


class BrokenCache(CacheServer):
    def command(self) -> list[str]:
        return [*super().command(), "--no-such-directive", "yes"]


def test_a_server_that_fails_to_start_shows_its_log(own_home: hubs_settings.Settings) -> None:
    server = BrokenCache(own_home, own_home.redis_port)
    with pytest.raises(ServerError) as error:
        server.start()
    message = str(error.value)
    assert "exited with code" in message and "no-such-directive" in message
    assert not server.status().running
