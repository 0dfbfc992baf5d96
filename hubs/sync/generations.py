"""Generations of the derived stores, and the one pointer every reader resolves.

A migration phase (or any rewrite that must be undoable in seconds) writes a NEW generation of a
store beside the published one, a gate checks it, and publishing flips which generation is the
store's published one: one PostgreSQL transaction, so every reader that resolves the pointer
after it sees the new generation and none sees half of it. Rollback flips back to the generation
published before (it was kept, and kept being a complete store: its own watermarks say how far
it got, so a sync catches it up). PostgreSQL is the record (`hubs_meta.generations`); the stores
hold only physically separate copies named from the generation number (`physical`).

Generation 0 is the store as it was before generations existed (the names every deployment has
today: graph `hubs`, collection `documents__<slug>`, ...). A store with no row here is at
generation 0, so nothing changes for a deployment until its first `begin`, which records 0 as
the published one (so a rollback can return to it).

Statuses: building (being written, never read) -> published (the one readers resolve) ->
retired (published before; a rollback target) ; building -> failed (its gate said no: never
published) ; published -> withdrawn (rolled back: never published again) ; any but published
-> dropped (its physical copy is gone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from psycopg2.extensions import connection as Connection

from hubs.db import connect, relation_exists
from hubs.settings import Settings

DDL = """
create schema if not exists hubs_meta;
create table if not exists hubs_meta.generations (
    store text not null,
    generation integer not null check (generation >= 0),
    status text not null
        check (status in ('building', 'published', 'retired', 'failed', 'withdrawn', 'dropped')),
    seeded_from integer,
    created_at timestamptz not null default now(),
    published_at timestamptz,
    ended_at timestamptz,
    note text,
    primary key (store, generation)
);
alter table hubs_meta.generations add column if not exists location text;
comment on column hubs_meta.generations.location is
    'Where the generation is when its name does not say (the cache: its Redis database number).';
create unique index if not exists generations_one_published on hubs_meta.generations (store)
    where status = 'published';
comment on table hubs_meta.generations is
    'Generations of each derived store; readers use the published one (hubs/sync/generations.py).';
"""

#: generations kept (the published one and the last ones before it); older ones are dropped
KEEP = 3


class GenerationRefused(RuntimeError):
    """A publish or rollback that the registry does not allow (nothing changed)."""


#: a store's own part of a switch (the cache swaps two Redis databases), run inside the registry's
#: transaction after it recorded the switch and before it commits: (conn, from, to) generations
Switch = Callable[[Connection, int, int], None]


@dataclass(frozen=True)
class Generation:
    store: str
    generation: int
    status: str
    seeded_from: int | None
    created_at: datetime
    published_at: datetime | None
    note: str | None


def physical(base: str, generation: int) -> str:
    """A store's physical name (graph, collection, group id) in a generation: generation 0 keeps
    the name it had before generations existed."""
    return base if generation == 0 else f"{base}__g{generation}"


def sync_name(name: str, generation: int) -> str:
    """The store's name in hubs_meta.sync_state and its writer lock in a generation: each
    generation has its own watermarks (a copy starts from its source's)."""
    return name if generation == 0 else f"{name}@g{generation}"


def family(name: str) -> str:
    """A store's sync name without its generation (sync_name's inverse)."""
    return name.split("@g")[0]


def ensure(conn: Connection) -> None:
    """The registry, made once. Its DDL (ALTER, COMMENT) takes an exclusive lock even when there is
    nothing to change, which would queue behind any reader holding a snapshot of the table (a
    migration phase waited so on an idle test connection): only a missing column runs it."""
    with conn.cursor() as cur:
        cur.execute(
            "select 1 from information_schema.columns"
            " where table_schema = 'hubs_meta' and table_name = 'generations' and column_name = 'location'"
        )
        if cur.fetchone() is None:
            cur.execute(DDL)
    conn.commit()


def published(conn: Connection, store: str) -> int:
    """The store's published generation (0 when generations were never used). Reads only (a
    reader's connection may be read-only); ends nothing, commits nothing."""
    with conn.cursor() as cur:
        if not relation_exists(cur, "hubs_meta", "generations"):
            return 0
        cur.execute("select generation from hubs_meta.generations where store = %s and status = 'published'", (store,))
        row = cur.fetchone()
    return int(row[0]) if row else 0


def published_all(conn: Connection) -> dict[str, int]:
    """Every store's published generation that is not 0 (one read, for readers that resolve
    several stores in the same snapshot as their watermarks)."""
    with conn.cursor() as cur:
        if not relation_exists(cur, "hubs_meta", "generations"):
            return {}
        cur.execute("select store, generation from hubs_meta.generations where status = 'published'")
        return {store: int(n) for store, n in cur.fetchall()}


def resolve(settings: Settings, store: str) -> int:
    """The published generation, read on a connection of its own (for an opener that has none)."""
    conn = connect(settings)
    try:
        return published(conn, store)
    finally:
        conn.close()


def listed(conn: Connection, store: str) -> list[Generation]:
    """The store's generations, newest first."""
    with conn.cursor() as cur:
        if not relation_exists(cur, "hubs_meta", "generations"):
            return []
        cur.execute(
            "select store, generation, status, seeded_from, created_at, published_at, note"
            " from hubs_meta.generations where store = %s order by generation desc",
            (store,),
        )
        rows = [Generation(*row) for row in cur.fetchall()]
    conn.commit()
    return rows


def _locked(conn: Connection, store: str) -> dict[int, str]:
    """Lock the store's registry for this transaction (publish, rollback and begin serialize) and
    read its generations' statuses. Generation 0 is recorded as published the first time."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('hubs_meta.generations'), hashtext(%s))", (store,))
        cur.execute(
            "insert into hubs_meta.generations (store, generation, status, published_at, note)"
            " select %s, 0, 'published', now(), 'the store as it was before generations'"
            " where not exists (select from hubs_meta.generations where store = %s)",
            (store, store),
        )
        cur.execute("select generation, status from hubs_meta.generations where store = %s", (store,))
        return {int(n): status for n, status in cur.fetchall()}


def begin(conn: Connection, store: str, seeded_from: int | None = None, note: str | None = None) -> int:
    """A new generation of the store, `building`: written by its builder, read by no reader."""
    ensure(conn)
    try:
        statuses = _locked(conn, store)
        number = max(statuses) + 1
        with conn.cursor() as cur:
            cur.execute(
                "insert into hubs_meta.generations (store, generation, status, seeded_from, note)"
                " values (%s, %s, 'building', %s, %s)",
                (store, number, seeded_from, note),
            )
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return number


def _set(conn: Connection, store: str, generation: int, status: str, stamp: str | None, note: str | None) -> None:
    with conn.cursor() as cur:
        cur.execute(
            f"update hubs_meta.generations set status = %s{f', {stamp} = now()' if stamp else ''},"
            " note = coalesce(%s, note) where store = %s and generation = %s",
            (status, note, store, generation),
        )


def publish(conn: Connection, store: str, generation: int, switch: Switch | None = None) -> int:
    """Make a building generation the published one, in one transaction; returns the generation
    published before (now retired, the rollback target). Only a building generation can be
    published: a failed one (its gate said no) never is."""
    ensure(conn)
    try:
        statuses = _locked(conn, store)
        if statuses.get(generation) != "building":
            found = statuses.get(generation, "not recorded")
            raise GenerationRefused(f"generation {generation} of {store} is {found}: only a building one is published")
        previous = next(n for n, s in statuses.items() if s == "published")
        _set(conn, store, previous, "retired", "ended_at", None)
        _set(conn, store, generation, "published", "published_at", None)
        if switch is not None:
            switch(conn, previous, generation)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return previous


def rollback(conn: Connection, store: str, switch: Switch | None = None) -> int:
    """Publish again the generation published before the current one (the current one is
    withdrawn), in one transaction; returns the generation now published."""
    ensure(conn)
    try:
        _locked(conn, store)
        with conn.cursor() as cur:
            cur.execute(
                "select generation from hubs_meta.generations where store = %s and status = 'retired'"
                " order by published_at desc limit 1",
                (store,),
            )
            row = cur.fetchone()
            if row is None:
                raise GenerationRefused(f"{store} has no earlier published generation to roll back to")
            cur.execute(
                "select generation from hubs_meta.generations where store = %s and status = 'published'", (store,)
            )
            [current] = cur.fetchone()
        _set(conn, store, current, "withdrawn", "ended_at", "rolled back")
        _set(conn, store, row[0], "published", "published_at", None)
        if switch is not None:
            switch(conn, current, row[0])
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return int(row[0])


def location(conn: Connection, store: str, generation: int) -> str | None:
    """Where the registry says the generation is (None: where its name says)."""
    with conn.cursor() as cur:
        if not relation_exists(cur, "hubs_meta", "generations"):
            return None
        cur.execute(
            "select location from hubs_meta.generations where store = %s and generation = %s", (store, generation)
        )
        row = cur.fetchone()
    return row[0] if row else None


def locations(conn: Connection, store: str) -> dict[int, str]:
    """Where each generation not dropped is, of those the registry places."""
    with conn.cursor() as cur:
        if not relation_exists(cur, "hubs_meta", "generations"):
            return {}
        cur.execute(
            "select generation, location from hubs_meta.generations"
            " where store = %s and location is not null and status <> 'dropped'",
            (store,),
        )
        return {int(n): where for n, where in cur.fetchall()}


def place(conn: Connection, store: str, generation: int, where: str) -> None:
    """Record where the generation is (not committed: the caller's transaction holds it)."""
    with conn.cursor() as cur:
        cur.execute(
            "update hubs_meta.generations set location = %s where store = %s and generation = %s",
            (where, store, generation),
        )


def fail(conn: Connection, store: str, generation: int, reason: str, switch: Switch | None = None) -> None:
    """A building generation whose gate said no: it can never be published (`switch` runs in the
    same transaction with the published generation as both ends: the record restores it)."""
    ensure(conn)
    try:
        statuses = _locked(conn, store)
        if statuses.get(generation) != "building":
            raise GenerationRefused(f"generation {generation} of {store} is {statuses.get(generation)}, not building")
        _set(conn, store, generation, "failed", "ended_at", reason)
        if switch is not None:
            published = next(n for n, s in statuses.items() if s == "published")
            switch(conn, published, published)
        conn.commit()
    except Exception:
        conn.rollback()
        raise


def droppable(conn: Connection, store: str, keep: int = KEEP) -> list[int]:
    """Generations whose physical copies may go: all but the published one, the ones being built
    and the `keep` newest others (rollback targets and failed ones kept for inspection)."""
    with conn.cursor() as cur:
        if not relation_exists(cur, "hubs_meta", "generations"):
            return []
        cur.execute(
            "select generation from hubs_meta.generations where store = %s"
            " and status in ('retired', 'failed', 'withdrawn') order by generation desc offset %s",
            (store, max(keep - 1, 0)),
        )
        found = [int(n) for (n,) in cur.fetchall()]
    conn.commit()
    return found


def dropped(conn: Connection, store: str, generations: list[int]) -> None:
    """Record that these generations' physical copies are gone (after the store dropped them)."""
    with conn.cursor() as cur:
        cur.execute(
            "update hubs_meta.generations set status = 'dropped', ended_at = coalesce(ended_at, now())"
            " where store = %s and generation = any(%s) and status in ('retired', 'failed', 'withdrawn')",
            (store, generations),
        )
    conn.commit()
