"""Dagster's SQLite event log, keeping its connections open between events.

Dagster's `SqliteEventLogStorage` builds a SQLAlchemy engine, opens a connection and disposes of
both for every event it stores (twice for an asset event, mirrored in the index shard). A
refresh stores ~1,000 events (each asset's planned and done materialization, each check, each
step), and at ~10 ms an event that was a third of a refresh with nothing to do. Here each
shard's engine is kept (a few run shards and the index), so an event costs one INSERT and
one commit: the same transactions as before, on a connection opened once.

What keeps this as safe as Dagster's own: engines are per process (a forked worker opens
its own); a connection goes back to the pool outside any transaction, so it holds no snapshot
and sees other processes' writes (the webserver, the daemon, CLI runs); `wipe` and `dispose`
close them before files go.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from sqlalchemy import Connection, Engine, create_engine

# Run shards whose engines stay open: a run writes to its own shard and the index; the
# webserver reads a few runs at a time. Older ones are closed, and reopened if read again.
OPEN_SHARDS = 8


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: object = None) -> None:
        # Set first: Dagster's __init__ connects already when it creates the index shard.
        self._engines: OrderedDict[tuple[int, str], Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        key = (os.getpid(), shard)
        engine = self._engines.get(key)
        if engine is not None:
            self._engines.move_to_end(key)
            return engine
        engine = create_engine(self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        self._engines[key] = engine
        while len(self._engines) > OPEN_SHARDS:
            (pid, _), oldest = self._engines.popitem(last=False)
            # Another process's engine (inherited over fork) is dropped, never closed from here.
            oldest.dispose(close=pid == os.getpid())
        return engine

    def _close_engines(self) -> None:
        with self._db_lock:
            for (pid, _), engine in self._engines.items():
                engine.dispose(close=pid == os.getpid())
            self._engines.clear()

    def wipe(self) -> None:
        self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (runs, events, schedules) with the event log above."""

    def __init__(self, base_dir: str, inst_data: object = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)  # type: ignore[arg-type]
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))
