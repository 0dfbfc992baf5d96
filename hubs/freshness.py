"""How far each derived store is behind PostgreSQL, read from its watermarks.

The sync engine keeps, per store and entity, the landing sequence it has applied up to
(hubs_meta.sync_state); every hub row and history version carries the landing sequence it came
from, and every applied delete is logged with one. So "behind" is a count of what lies past the
watermarks, read in one read-only transaction and never written back: `hubs status` may run
while a sync writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog, Entity
from hubs.db import relation_exists
from hubs.sync import generations, state
from hubs.sync.generations import sync_name
from hubs.sync.stores import STORES, holds


@dataclass(frozen=True)
class StoreLag:
    kind: str  # graph | cache | vectors | timeline
    name: str  # the store's name in hubs_meta.sync_state (vectors carry the embedding model)
    last_sync: datetime | None  # None: never synced
    changed: int  # rows and history versions changed since the store's watermarks
    deleted: int  # deletes applied in PostgreSQL since
    entities_behind: int
    generation: int = 0  # the store's published generation (hubs/sync/generations.py) these figures are of

    def describe(self) -> str:
        if self.last_sync is None:
            return f"never synced: run `hubs sync {self.kind}`"
        since = f"last sync {self.last_sync.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
        if not self.changed and not self.deleted:
            return f"in sync with PostgreSQL ({since})"
        parts = [f"{self.changed:,} rows changed"] if self.changed else []
        parts += [f"{self.deleted:,} rows deleted"] if self.deleted else []
        entities = f"{self.entities_behind} entit{'y' if self.entities_behind == 1 else 'ies'}"
        return (
            f"behind: {' and '.join(parts)} in PostgreSQL since its last sync ({entities}; {since}):"
            f" run `hubs sync {self.kind}`"
        )


def store_names(vectors_name: str, generations: dict[str, int] | None = None) -> dict[str, str]:
    """Each store kind's name in sync_state: its published generation's (`generations`: kind ->
    generation, 0 when absent)."""
    published = generations or {}
    return {kind: sync_name(vectors_name if kind == "vectors" else kind, published.get(kind, 0)) for kind in STORES}


def _counts_past(marks: list[int]) -> sql.Composable:
    """One count per watermark of the rows landed after it."""
    return sql.SQL(", ").join(sql.SQL("count(*) filter (where _landing_seq > %s)") for _ in marks)


def _changed_since(conn: Connection, entity: Entity, marks: list[int]) -> list[int]:
    """Per watermark, the changes past it. A versioned entity's history holds every version,
    the current one included, so it alone is counted (a late, older version changes only it)."""
    table = f"{entity.table}_history" if entity.history == "scd2" else entity.table
    with conn.cursor() as cur:
        if not relation_exists(cur, entity.schema, table):
            return [0] * len(marks)
        cur.execute(
            sql.SQL("select {} from {}").format(_counts_past(marks), sql.Identifier(entity.schema, table)), marks
        )
        return [int(n) for n in cur.fetchone()]


def _deleted_since(conn: Connection, entity: Entity, marks: list[int]) -> list[int]:
    with conn.cursor() as cur:
        if not relation_exists(cur, "hubs_meta", "hub_deletions"):
            return [0] * len(marks)
        cur.execute(
            sql.SQL("select {} from hubs_meta.hub_deletions where entity = %s and status = 'applied'").format(
                _counts_past(marks)
            ),
            [*marks, entity.qualified_name],
        )
        return [int(n) for n in cur.fetchone()]


def store_lags(
    conn: Connection, catalog: Catalog, vectors_name: str = "vectors", kinds: Iterable[str] = STORES
) -> list[StoreLag]:
    """How far behind PostgreSQL each derived store (of `kinds`) is, in one read-only transaction:
    the published generation of each (the one readers read) with its own watermarks."""
    kinds = [k for k in STORES if k in set(kinds)]
    saved = conn.readonly
    conn.rollback()
    conn.readonly = True
    try:
        published = generations.published_all(conn)
        names = store_names(vectors_name, published)
        marks = state.read_all(conn)
        totals = {kind: [0, 0, 0] for kind in kinds}  # changed, deleted, entities behind
        for entity in catalog.entities:
            holding = [k for k in kinds if holds(k, entity)]
            if not holding:
                continue
            seqs = [marks.get((names[k], entity.model), (state.Watermark(), None))[0] for k in holding]
            changed = _changed_since(conn, entity, [s.landing_seq for s in seqs])
            deleted = _deleted_since(conn, entity, [s.deletion_seq for s in seqs])
            for kind, c, d in zip(holding, changed, deleted, strict=True):
                totals[kind][0] += c
                totals[kind][1] += d
                totals[kind][2] += 1 if c or d else 0
        lags = []
        for kind in kinds:
            synced = [at for (store, _), (_, at) in marks.items() if store == names[kind]]
            changed, deleted, behind = totals[kind]
            lags.append(
                StoreLag(
                    kind, names[kind], max(synced) if synced else None, changed, deleted, behind, published.get(kind, 0)
                )
            )
        return lags
    finally:
        conn.rollback()
        conn.readonly = saved
