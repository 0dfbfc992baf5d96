"""PostgreSQL as Recall reads it: as the read-only role `hubs_reader` (SET ROLE, made by the
landing DDL, hubs.db.ensure_reader_role) where this server has it, and always in read-only
transactions, in UTC, with a statement time limit. Connections are pooled (the HTTP app asks
from several threads); one that breaks is dropped, and an unreachable server is a RecallError 503.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor

from hubs.catalog import Entity
from hubs.db import READER_ROLE, connect
from hubs.recall.inputs import QUERY_TIMEOUT_MS, Key
from hubs.recall.model import RecallError
from hubs.secrets import ConnectionFailed, scrub
from hubs.settings import Settings
from hubs.sync.feed import hub_table

POOL_SIZE = 8
WAIT_SECONDS = 10  # for a free connection, before a request is refused as overload


def key_condition(entity: Entity, alias: str, columns: tuple[str, ...] | None = None) -> sql.Composable:
    """`alias.c1 = %s::type1 and ...` over `columns` (default: the entity's key), typed so that
    the index serves it and a key part is read as its column's type."""
    return sql.SQL(" and ").join(
        sql.SQL("{}.{} = %s::{}").format(sql.Identifier(alias), sql.Identifier(c), sql.SQL(entity.column(c).data_type))
        for c in columns or entity.primary_key
    )


def current_row(conn: Connection, entity: Entity, key: Key) -> dict[str, Any] | None:
    """The entity's current row with this key, or None."""
    query = sql.SQL("select t.* from {} as t where {}").format(hub_table(entity), key_condition(entity, "t"))
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(query, key.parts)
        row = cur.fetchone()
    return dict(row) if row is not None else None


class Reader:
    """A small pool of read-only connections to the system of record."""

    def __init__(self, settings: Settings, timeout_ms: int = QUERY_TIMEOUT_MS, size: int = POOL_SIZE) -> None:
        self.settings = settings
        self.timeout_ms = timeout_ms
        self.read_as = ""  # how the connections read, said in every PostgreSQL answer's provenance
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def _open(self) -> Connection:
        try:
            conn = connect(self.settings, autocommit=True)
        except ConnectionFailed as exc:
            raise RecallError(503, f"PostgreSQL is unreachable: {scrub(str(exc))}") from None
        try:
            with conn.cursor() as cur:
                try:
                    cur.execute(sql.SQL("set role {}").format(sql.Identifier(READER_ROLE)))
                    role = f"role {READER_ROLE}"
                except psycopg2.Error as exc:
                    role = f"the platform's user (role {READER_ROLE} unavailable: {scrub(str(exc).strip())})"
                cur.execute("set timezone = 'UTC'")  # a date compared with a time is midnight UTC, as in the graph
                cur.execute("select set_config('statement_timeout', %s, false)", (str(self.timeout_ms),))
            # Through psycopg2 (it sets default_transaction_read_only): code that saves and restores
            # the connection's read-only flag around its reads (hubs/freshness.py) keeps it on.
            conn.readonly = True
        except psycopg2.Error as exc:
            conn.close()
            raise RecallError(503, f"PostgreSQL: {scrub(str(exc).strip())}") from None
        self.read_as = f"{role}, read-only transactions, {self.timeout_ms} ms per statement"
        return conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for one question; PostgreSQL's failures become RecallErrors that say what
        happened (503 unreachable or refused, 504 too slow)."""
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise RecallError(503, f"every PostgreSQL connection was busy for {WAIT_SECONDS} s: try again")
        conn: Connection | None = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = self._open()
            yield conn
        except psycopg2.errors.QueryCanceled:
            raise RecallError(504, f"PostgreSQL took longer than {self.timeout_ms} ms: ask less at once") from None
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise RecallError(503, f"PostgreSQL refused the read ({_first_line(exc)}): run `hubs up`") from None
        except psycopg2.errors.UndefinedTable as exc:
            raise RecallError(503, f"the hub tables are not built ({_first_line(exc)}): run `hubs refresh`") from None
        except psycopg2.DataError as exc:
            raise RecallError(400, f"PostgreSQL cannot read a value given: {_first_line(exc)}") from None
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            if conn is not None:
                conn.close()
            raise RecallError(503, f"lost PostgreSQL: {_first_line(exc)}") from None
        finally:
            if conn is not None and not conn.closed:
                with self._lock:
                    self._idle.append(conn)
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()


def _first_line(exc: BaseException) -> str:
    text = scrub(str(exc).strip())
    return text.splitlines()[0] if text else type(exc).__name__
