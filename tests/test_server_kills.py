"""Fault injection, the servers' part: each embedded server (FalkorDB for the graph and the
timeline, Redis for the cache, PostgreSQL under the graph) is killed with SIGKILL in the middle
of a sync that has work to do, then restarted; the next sync must leave the store exactly as a
fresh rebuild from PostgreSQL leaves it. (The CLI's part is tests/test_faults.py; this module
has its own, because that module's graph-server fixture stays set while its tests run.)"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil
import psycopg2
import pytest

from hubs import settings as hubs_settings
from hubs.db import connect
from hubs.servers import embedded_servers, ensure_running
from hubs.sync import engine
from hubs.sync.engine import StoreUnavailable
from tests import fingerprints
from tests.conftest import StoreBench


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(timeout=10)


def _killing(monkeypatch: pytest.MonkeyPatch, point: str, at: int, kill: object) -> None:
    passes = {"n": 0}

    def failpoint(name: str) -> None:
        if name == point:
            passes["n"] += 1
            if passes["n"] == at:
                kill()

    monkeypatch.setattr(engine, "failpoint", failpoint)


@pytest.mark.parametrize(
    "kind, server", [("graph", "graph"), ("timeline", "graph"), ("cache", "cache"), ("graph", "postgres")]
)
def test_a_server_killed_while_its_store_syncs_loses_nothing(
    kind: str, server: str, bench: StoreBench, offline_embedder: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = bench.synced(kind)
    # Work for an incremental sync: every row of the store's entities read again.
    bench.sql("update hubs_meta.sync_state set landing_seq = 0 where store = %s", (store.name,))
    settings = hubs_settings.load()
    pid = embedded_servers(settings)[server].running_pid()
    assert pid is not None
    lost = (psycopg2.OperationalError, psycopg2.InterfaceError) if server == "postgres" else (StoreUnavailable,)
    _killing(monkeypatch, f"sync.{kind}.written", 4, lambda: _kill(pid))
    with pytest.raises(lost):
        bench.sync(kind)
    monkeypatch.setattr(engine, "failpoint", lambda name: None)
    ensure_running(settings, [server])
    bench.release()
    bench.conn.close()
    bench.conn = connect(settings)
    bench.sync(kind)
    held = fingerprints.OF[kind](bench.store(kind), bench.conn)
    bench.sync(kind, full=True)
    rebuilt = fingerprints.OF[kind](bench.store(kind), bench.conn)
    assert held == rebuilt, fingerprints.difference(held, rebuilt)
