"""Generations of the cache (hubs/sync/generations.py): a Redis database per generation.

Readers never resolve anything here: Recall's read-through, the real-time keeper and any
application reading the catalog's keys (`truck:6520:location`) use the database of the cache's
URL, which always holds the published generation. A generation is built in another database
(a full sync: the cache is rebuilt from PostgreSQL in ~21 s at scale 1, so nothing is copied), and
publishing swaps the two databases with SWAPDB, which Redis applies atomically for every client
(~65 us at 113,000 keys, measured), inside the registry's transaction; a rollback swaps them
back. The registry records which database holds which generation (`location`). Redis Cluster
has one database only: there this scheme does not apply (see the report in docs).
"""

from __future__ import annotations

from psycopg2.extensions import connection as Connection

from hubs.db import connect
from hubs.settings import Settings
from hubs.sync import generations, state
from hubs.sync.connections import cache_client, cache_home
from hubs.sync.generations import GenerationRefused, sync_name

STORE = "cache"
DATABASES = 16  # Redis's default `databases`


def database(settings: Settings, generation: int) -> int:
    """The Redis database holding the generation (the readers' one when the registry places it
    nowhere: generation 0 before generations)."""
    conn = connect(settings)
    try:
        where = generations.location(conn, STORE, generation)
    finally:
        conn.close()
    return int(where) if where is not None else cache_home(settings)


def begin(conn: Connection, settings: Settings, note: str | None = None) -> int:
    """A new generation, building, in a Redis database of its own (emptied: an earlier one's
    leftovers); its first sync fills it whole."""
    number = generations.begin(conn, STORE, note=note)
    home = cache_home(settings)
    try:
        placed = generations.locations(conn, STORE)
        published = generations.published(conn, STORE)
        if published not in placed:
            generations.place(conn, STORE, published, str(home))
        used = {int(where) for where in placed.values()} | {home}
        free = next((db for db in range(DATABASES) if db not in used), None)
        if free is None:
            raise GenerationRefused(f"no free Redis database for a new cache generation: drop old ones ({used})")
        generations.place(conn, STORE, number, str(free))
        conn.commit()
    except Exception:
        conn.rollback()
        generations.fail(conn, STORE, number, "no database to build it in")
        raise
    client = cache_client(settings, db=free)
    try:
        client.flushdb()
    finally:
        client.close()
    return number


def _swapper(settings: Settings, swapped: list[tuple[int, int]]) -> generations.Switch:
    def swap(conn: Connection, old: int, new: int) -> None:
        home, other = cache_home(settings), int(generations.location(conn, STORE, new) or cache_home(settings))
        client = cache_client(settings)
        try:
            client.swapdb(home, other)
        finally:
            client.close()
        swapped.append((home, other))
        generations.place(conn, STORE, new, str(home))
        generations.place(conn, STORE, old, str(other))

    return swap


def _unswap(settings: Settings, swapped: list[tuple[int, int]]) -> None:
    """Undo a swap whose transaction did not commit (the registry still names the old one)."""
    client = cache_client(settings)
    try:
        for home, other in swapped:
            client.swapdb(home, other)
    finally:
        client.close()


def publish(conn: Connection, settings: Settings, generation: int) -> int:
    """Swap the generation into the readers' database and record it; the one before it."""
    swapped: list[tuple[int, int]] = []
    try:
        return generations.publish(conn, STORE, generation, _swapper(settings, swapped))
    except Exception:
        _unswap(settings, swapped)
        raise


def rollback(conn: Connection, settings: Settings) -> int:
    """Swap the generation published before back into the readers' database; which it is."""
    swapped: list[tuple[int, int]] = []
    try:
        return generations.rollback(conn, STORE, _swapper(settings, swapped))
    except Exception:
        _unswap(settings, swapped)
        raise


def drop(conn: Connection, settings: Settings, generation: int) -> None:
    """Empty a generation's database and forget its watermarks (never the readers' database)."""
    db = database(settings, generation)
    if db == cache_home(settings) or generation == 0:
        raise ValueError(f"generation {generation} of the cache is in the readers' database: never dropped")
    client = cache_client(settings, db=db)
    try:
        client.flushdb()
    finally:
        client.close()
    state.reset(conn, sync_name(STORE, generation))
    conn.commit()
