"""Opening a derived store by its kind's name (see hubs.sync.kinds for the registry and
hubs.sync.connections for reaching the servers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hubs.catalog import Catalog, Entity
from hubs.settings import Settings
from hubs.sync.connections import TIMELINE_GRAPH, cache_client, graph_dialect, timeline_driver
from hubs.sync.engine import Store, StoreUnavailable
from hubs.sync.kinds import STORES, holds, kind


def describe(name: str, entity: Entity) -> str:
    """What the store holds of the entity, in a line (asset descriptions, docs)."""
    return kind(name).describe(entity)


def open_store(name: str, settings: Settings, catalog: Catalog, generation: int | None = None) -> Store:
    """A connected store of this kind, in its published generation unless another is named;
    StoreUnavailable when its server cannot be reached."""
    return kind(name).open(settings, catalog, generation)


@contextmanager
def opened(name: str, settings: Settings, catalog: Catalog, generation: int | None = None) -> Iterator[Store]:
    store = open_store(name, settings, catalog, generation)
    try:
        yield store
    finally:
        store.close()


__all__ = [
    "STORES",
    "TIMELINE_GRAPH",
    "StoreUnavailable",
    "cache_client",
    "describe",
    "graph_dialect",
    "holds",
    "open_store",
    "opened",
    "timeline_driver",
]
