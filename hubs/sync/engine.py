"""One sync loop for every derived store.

A store says which entities it holds and how to write and delete their records; the engine
reads PostgreSQL's changes since the store's watermark (parents before children, so an edge
always finds both ends), hands them over chunk by chunk and advances the watermark after
each successful write (so it never moves past what is not durably in the store). Running it
twice changes nothing the second time; a store that fails keeps its old watermark and catches
up on the next run; `full=True` empties the store and replays everything (the rebuild and
rollback path), or, for some of its entities, empties and replays just those (the others keep
their data and watermarks). One sync writes a store at a time (hubs/sync/lock.py).
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
from hubs.faults import failpoint
from hubs.secrets import ConnectionFailed, connection_error
from hubs.sync import feed, state
from hubs.sync.lock import store_writer
from hubs.sync.records import join_key

log = logging.getLogger(__name__)


class StoreUnavailable(ConnectionFailed):
    """The store cannot be reached; nothing was written and its watermark did not move."""

    @classmethod
    def reaching(cls, server: str, url: str, exc: BaseException) -> StoreUnavailable:
        """The error for a server that could not be reached or was lost: names the server and its
        URL, with no password in any spelling (raise it `from None`: the driver's may quote one)."""
        return cls(str(connection_error(server, url, exc)))


@dataclass(frozen=True)
class EntitySync:
    store: str
    entity: str
    upserted: int
    deleted: int
    seconds: float


@dataclass(frozen=True)
class EntityFailure:
    """One entity the store could not take: which row, from which file, and why."""

    store: str
    entity: str
    key: str | None
    source: str | None  # the landed file and row the failing version came from
    error: str

    def __str__(self) -> str:
        where = f" key {self.key}" if self.key is not None else ""
        origin = f" (landed from {self.source})" if self.source else ""
        return f"{self.entity}{where}{origin}: {self.error}"


class SubsetRebuildRefused(RuntimeError):
    """A store cannot empty some entities on their own: nothing was cleared or reset."""

    def __init__(self, store: str, entities: Iterable[str], why: str) -> None:
        names = ", ".join(sorted(entities))
        super().__init__(
            f"the {store} store cannot rebuild only {names}: {why}. Rebuild the whole store instead"
            f" (`hubs rebuild {store.split(':')[0]}`, or the store job with full: true and every entity selected),"
            " or sync without full to apply only what changed"
        )


class SyncFailed(RuntimeError):
    """Some entities could not be synced; the others were. Each failure names its row."""

    def __init__(self, failures: list[EntityFailure], reports: list[EntitySync]) -> None:
        self.failures = failures
        self.reports = reports
        stores = ", ".join(sorted({f.store for f in failures}))
        count = f"{len(failures)} entit{'y' if len(failures) == 1 else 'ies'}"
        super().__init__(f"the {stores} store could not take {count}: " + "; ".join(str(f) for f in failures))


class Store(ABC):
    """What a derived store needs to provide to be kept in sync."""

    #: name in hubs_meta.sync_state; a store whose content depends on a setting (the embedding
    #: model) puts it in the name, so changing the setting starts a fresh sync.
    name: str
    #: whether upserts need the entity's history versions (SCD-2) as well as its current row.
    wants_versions: bool = False
    #: the entities (models) this sync emptied before writing them (a rebuild): the store holds
    #: nothing of theirs, so an upsert need not look for what a key held before, nor remove it.
    fresh: frozenset[str] = frozenset()

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

    def subset_refusal(self, entities: list[Entity]) -> str | None:
        """Why the store cannot empty these entities alone (None: it can, having clear_entities)."""
        if type(self).clear_entities is not Store.clear_entities:
            return None
        return "it cannot empty one entity's data alone"

    def clear_entities(self, catalog: Catalog, entities: list[Entity]) -> None:
        """Remove what the store holds of these entities only, leaving the others' data as a
        rebuild of everything would (before a rebuild of a subset). What must come back with them
        (the graph: other rows' relationships to their nodes) is committed in PostgreSQL before
        anything leaves the store."""
        raise NotImplementedError(f"{type(self).__name__} cannot clear single entities")

    def begin(self, conn: Connection) -> None:  # noqa: B027 - most stores keep nothing in PostgreSQL
        """The sync's PostgreSQL connection, for a store that keeps bookkeeping there: what it
        writes on it is committed with the watermark, never before."""

    def finish(self) -> None:  # noqa: B027 - most stores write everything as they go
        """Mark the end of a successful sync (nothing may wait here: a watermark has moved)."""

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
    notify: Callable[[str], Any] | None = None,
) -> list[EntitySync]:
    """Bring `store` up to date with PostgreSQL for the named entities (models), or all it holds.

    One sync writes a store at a time (the others wait, saying so through `notify`). An entity
    whose write fails does not stop the others: the sync goes on and raises SyncFailed at the
    end, naming the failing row and the file it was landed from; that entity keeps its
    watermark, so the next sync tries it again."""
    state.ensure(conn)
    with store_writer(conn, store.name, notify):
        try:
            store.begin(conn)
            wanted = set(entities) if entities is not None else None
            if not full and store.lost_content() and state.any_progress(conn, store.name):
                log.warning(
                    "the %s store lost what it held since its last sync: rebuilding it from PostgreSQL", store.name
                )
                _forget(store, conn, catalog, None)  # all of it is gone, whatever this sync was asked for
            elif full:
                _forget(store, conn, catalog, wanted)
            store.prepare(catalog)
            reports: list[EntitySync] = []
            failures: list[EntityFailure] = []
            for entity in parents_first(catalog):
                if not store.holds(entity) or (wanted is not None and entity.model not in wanted):
                    continue
                try:
                    report = _sync_entity(store, conn, entity)
                except StoreUnavailable:
                    conn.rollback()
                    raise
                except _EntityFailed as failed:
                    conn.rollback()
                    failures.append(failed.failure)
                    continue
                reports.append(report)
                if progress:
                    progress(report)
            store.finish()
        finally:
            store.fresh = frozenset()  # what this sync emptied counts while it runs, never after
    if failures:
        raise SyncFailed(failures, reports)
    return reports


def _forget(store: Store, conn: Connection, catalog: Catalog, wanted: set[str] | None) -> None:
    """Empty what a full sync rebuilds: the whole store, or only the selected entities when some
    it holds are not selected (their data and watermarks stay: a subset rebuild must not leave
    the store half empty)."""
    held = [e for e in catalog.entities if store.holds(e)]
    chosen = [e for e in held if wanted is None or e.model in wanted]
    if not chosen:
        return
    whole = len(chosen) == len(held)
    refusal = None if whole else store.subset_refusal(chosen)
    if refusal:
        raise SubsetRebuildRefused(store.name, (e.model for e in chosen), refusal)
    # Forget the progress first: dying between the two steps then means entities that are
    # re-read whole, never an empty store whose watermarks say it is full.
    state.reset(conn, store.name, None if whole else [e.model for e in chosen])
    conn.commit()
    if whole:
        store.clear(catalog)
    else:
        store.clear_entities(catalog, chosen)
    conn.commit()
    store.fresh = frozenset(e.model for e in chosen)


class _EntityFailed(Exception):
    def __init__(self, failure: EntityFailure) -> None:
        self.failure = failure
        super().__init__(str(failure))


def _sync_entity(store: Store, conn: Connection, entity: Entity) -> EntitySync:
    started = time.monotonic()
    mark = state.read(conn, store.name, entity.model)
    deleted_keys, deletion_seq = feed.deletions(conn, entity, mark.deletion_seq)
    if deleted_keys:
        try:
            store.delete(entity, deleted_keys)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise _EntityFailed(EntityFailure(store.name, entity.qualified_name, None, None, _text(exc))) from exc
    mark.deletion_seq = deletion_seq
    state.write(conn, store.name, entity.model, mark)
    upserted = 0
    extra = store.extra_columns(entity)
    try:
        for chunk, upto in feed.changes(conn, entity, mark.landing_seq, extra, store.wants_versions):
            try:
                store.upsert(entity, chunk)
            except StoreUnavailable:
                raise
            except Exception as exc:
                raise _EntityFailed(_diagnose(store, conn, entity, chunk, exc)) from exc
            failpoint(f"sync.{store.name.split(':')[0]}.written")
            upserted += len(chunk)
            mark.landing_seq = upto
            state.write(conn, store.name, entity.model, mark)
    except feed.UnreadableRows as unreadable:
        raise _EntityFailed(_unreadable(store, conn, entity, unreadable)) from unreadable
    return EntitySync(store.name, entity.model, upserted, len(deleted_keys), time.monotonic() - started)


def _unreadable(store: Store, conn: Connection, entity: Entity, unreadable: feed.UnreadableRows) -> EntityFailure:
    extra = store.extra_columns(entity)
    found = feed.first_unreadable(conn, entity, unreadable.part, extra, store.wants_versions)
    if found is None:
        return EntityFailure(store.name, entity.qualified_name, None, None, _text(unreadable.cause))
    key, landing_seq, error = found
    return EntityFailure(
        store.name, entity.qualified_name, join_key(key), feed.origin(conn, entity, landing_seq), _text(error)
    )


def _text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")


def _diagnose(
    store: Store, conn: Connection, entity: Entity, chunk: list[feed.Change], exc: Exception
) -> EntityFailure:
    """Which row of a failed chunk the store refuses (halving the chunk), and where it was landed from."""
    conn.rollback()
    # What the failed chunk wrote is in the store now: the halves are written again as updates.
    store.fresh = store.fresh - {entity.model}
    culprit, error = _culprit(store, entity, chunk), exc
    if culprit is None:
        return EntityFailure(store.name, entity.qualified_name, None, None, _text(error))
    change, error = culprit
    conn.rollback()
    source = feed.origin(conn, entity, change.row.get("_landing_seq"))
    return EntityFailure(store.name, entity.qualified_name, change.key, source, _text(error))


def _culprit(store: Store, entity: Entity, chunk: list[feed.Change]) -> tuple[feed.Change, Exception] | None:
    if len(chunk) == 1:
        try:
            store.upsert(entity, chunk)
        except StoreUnavailable:
            raise
        except Exception as exc:
            return chunk[0], exc
        return None
    middle = len(chunk) // 2
    for half in (chunk[:middle], chunk[middle:]):
        try:
            store.upsert(entity, half)
        except StoreUnavailable:
            raise
        except Exception:
            return _culprit(store, entity, half)
    return None
