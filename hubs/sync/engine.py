"""One sync loop for every derived store.

A store says which entities it holds and how to write and delete their records; the engine
reads PostgreSQL's changes since the store's watermark (parents before children, so an edge
always finds both ends), hands them over chunk by chunk and advances the watermark after
each successful write. Running it twice changes nothing the second time; a store that fails
keeps its old watermark and catches up on the next run; `full=True` empties the store and
replays everything (the rebuild and rollback path).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog, Entity
from hubs.sync import feed, state

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The store cannot be reached; nothing was written and its watermark did not move."""


@dataclass(frozen=True)
class EntitySync:
    store: str
    entity: str
    upserted: int
    deleted: int
    seconds: float


class Store(ABC):
    """What a derived store needs to provide to be kept in sync."""

    #: name in hubs_meta.sync_state; a store whose content depends on a setting (the embedding
    #: model) puts it in the name, so changing the setting starts a fresh sync.
    name: str
    #: whether upserts need the entity's history versions (SCD-2) as well as its current row.
    wants_versions: bool = False

    @abstractmethod
    def holds(self, entity: Entity) -> bool:
        """Whether this store keeps anything of the entity."""

    def lost_content(self) -> bool:
        """Whether the store came back empty (a cache server restarted without persistence):
        its watermarks no longer describe what it holds, so the engine rebuilds it."""
        return False

    def prepare(self, catalog: Catalog) -> None:  # noqa: B027 - most stores create schema lazily
        """Create collections, constraints and indexes (idempotent)."""

    def extra_columns(self, entity: Entity) -> dict[str, str]:
        """SQL expressions to read with each row (evaluated by PostgreSQL, e.g. cache filters)."""
        return {}

    @abstractmethod
    def upsert(self, entity: Entity, changes: list[feed.Change]) -> None:
        """Write the records of these keys (replacing whatever the store had for them)."""

    @abstractmethod
    def delete(self, entity: Entity, keys: list[str]) -> None:
        """Remove every record of these keys."""

    @abstractmethod
    def clear(self, catalog: Catalog) -> None:
        """Remove everything this store holds (before a full rebuild)."""

    def finish(self) -> None:  # noqa: B027 - most stores write everything as they go
        """Write what had to wait until every entity of the run was synced."""

    @abstractmethod
    def size(self, catalog: Catalog) -> dict[str, int]:
        """What the store holds, counted (nodes, keys, points per collection ...) for summaries."""

    def close(self) -> None:  # noqa: B027 - stores without connections have nothing to close
        """Release connections and locks."""


def parents_first(catalog: Catalog) -> list[Entity]:
    """Entities ordered so that every foreign key's parent comes before its child."""
    by_model = {e.model: e for e in catalog.entities}
    ordered: list[Entity] = []
    seen: set[str] = set()

    def visit(entity: Entity) -> None:
        if entity.model in seen:
            return
        seen.add(entity.model)
        for fk in entity.foreign_keys:
            if fk.parent_model != entity.model:
                visit(by_model[fk.parent_model])
        ordered.append(entity)

    for entity in catalog.entities:
        visit(entity)
    return ordered


def sync(
    store: Store,
    conn: Connection,
    catalog: Catalog,
    entities: Iterable[str] | None = None,
    full: bool = False,
    progress: Callable[[EntitySync], Any] | None = None,
) -> list[EntitySync]:
    """Bring `store` up to date with PostgreSQL for the named entities (models), or all it holds."""
    state.ensure(conn)
    if not full and store.lost_content() and state.any_progress(conn, store.name):
        log.warning("the %s store lost what it held since its last sync: rebuilding it from PostgreSQL", store.name)
        full = True
    if full:
        store.clear(catalog)
        state.reset(conn, store.name)
    store.prepare(catalog)
    wanted = set(entities) if entities is not None else None
    reports = []
    for entity in parents_first(catalog):
        if not store.holds(entity) or (wanted is not None and entity.model not in wanted):
            continue
        started = time.monotonic()
        mark = state.read(conn, store.name, entity.model)
        deleted_keys, mark.deletion_seq = feed.deletions(conn, entity, mark.deletion_seq)
        if deleted_keys:
            store.delete(entity, deleted_keys)
        state.write(conn, store.name, entity.model, mark)
        upserted = 0
        extra = store.extra_columns(entity)
        for chunk, upto in feed.changes(conn, entity, mark.landing_seq, extra, store.wants_versions):
            store.upsert(entity, chunk)
            upserted += len(chunk)
            mark.landing_seq = upto
            state.write(conn, store.name, entity.model, mark)
        report = EntitySync(store.name, entity.model, upserted, len(deleted_keys), time.monotonic() - started)
        reports.append(report)
        if progress:
            progress(report)
    store.finish()
    return reports
