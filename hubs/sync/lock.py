"""One writer per derived store at a time.

Two syncs of the same store interleaving their writes corrupt it (two rebuilds of the graph each
create every relationship once: twice as many). A sync therefore holds a PostgreSQL advisory
lock named after its store for as long as it writes. The lock belongs to the sync's database
session, so it ends with its holder however the holder ends (finished, crashed, `kill -9`, lost
connection): nothing is left to clean up. A second sync waits, and says what it waits for.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from psycopg2.extensions import connection as Connection

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
REMIND_SECONDS = 30.0


def lock_id(store: str) -> int:
    """A stable 63-bit advisory lock key for the store's writer lock."""
    digest = hashlib.sha256(f"hubs:store-writer:{store}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _try(conn: Connection, key: int, shared: bool = False) -> bool:
    with conn.cursor() as cur:
        cur.execute(f"select pg_try_advisory_lock{'_shared' if shared else ''}(%s)", (key,))
        [got] = cur.fetchone()
    conn.commit()
    return bool(got)


def holder(conn: Connection, store: str) -> str | None:
    """Who holds the store's writer lock, in words (None when nobody does)."""
    key = lock_id(store)
    with conn.cursor() as cur:
        # A bigint advisory key shows in pg_locks as classid (high half) and objid (low half).
        cur.execute(
            "select a.pid, a.application_name, a.backend_start, a.client_addr"
            " from pg_locks as l join pg_stat_activity as a on a.pid = l.pid"
            " where l.locktype = 'advisory' and l.granted and l.objsubid = 1"
            " and l.classid::text::bigint = %s and l.objid::text::bigint = %s",
            (key >> 32, key & 0xFFFFFFFF),
        )
        row = cur.fetchone()
    conn.commit()
    if row is None:
        return None
    pid, application, started, client = row
    who = application or "a client"
    origin = f" from {client}" if client else ""
    return f"{who} (PostgreSQL session {pid}{origin}, connected {started:%Y-%m-%d %H:%M:%S %Z})"


@contextmanager
def store_writer(
    conn: Connection,
    store: str,
    notify: Callable[[str], object] | None = None,
    poll: float = POLL_SECONDS,
    remind: float = REMIND_SECONDS,
    wait: bool = True,
) -> Iterator[bool]:
    """Hold the store's writer lock on `conn` for the block, waiting (and saying so) while another
    sync writes or checks read it; yields whether it holds the lock (always, unless `wait` is
    False and the store is busy). Interrupting the wait (Ctrl-C, SIGTERM) leaves nothing behind."""
    with _held(conn, [store], False, notify, poll, remind, wait) as mine:
        yield mine


@contextmanager
def store_readers(
    conn: Connection, stores: list[str], notify: Callable[[str], object] | None = None, poll: float = POLL_SECONDS
) -> Iterator[None]:
    """Read these stores as a whole (checks): shared with other readers, never during a sync,
    which would show them a store half written."""
    with _held(conn, sorted(set(stores)), True, notify, poll, REMIND_SECONDS, True):
        yield


@contextmanager
def _held(
    conn: Connection,
    stores: list[str],
    shared: bool,
    notify: Callable[[str], object] | None,
    poll: float,
    remind: float,
    wait: bool,
) -> Iterator[bool]:
    say = notify or log.warning
    role = "check" if shared else "sync"
    with conn.cursor() as cur:
        cur.execute(
            "select set_config('application_name', %s, false)", (f"hubs {role} {' '.join(stores)} (pid {os.getpid()})",)
        )
    conn.commit()
    held: list[int] = []
    try:
        for store in stores:
            if not _acquire(conn, store, shared, say, poll, remind, wait):
                yield False
                return
            held.append(lock_id(store))
        yield True
    finally:
        if not conn.closed:
            conn.rollback()
            with conn.cursor() as cur:
                for key in held:
                    cur.execute(f"select pg_advisory_unlock{'_shared' if shared else ''}(%s)", (key,))
            conn.commit()


def _acquire(
    conn: Connection, store: str, shared: bool, say: Callable[[str], object], poll: float, remind: float, wait: bool
) -> bool:
    key = lock_id(store)
    started = time.monotonic()
    told = -remind
    while not _try(conn, key, shared):
        if not wait:
            return False
        waited = time.monotonic() - started
        if waited - told >= remind:
            who = holder(conn, store) or "another sync (it just finished)"
            busy = "a sync is writing it" if shared else "another sync is writing it or checks are reading it"
            say(f"waiting for the {store} store: {busy}: {who}; waited {waited:.0f}s so far")
            told = waited
        time.sleep(poll)
    if time.monotonic() - started > poll:
        say(f"the {store} store is free; going on after waiting {time.monotonic() - started:.0f}s")
    return True
