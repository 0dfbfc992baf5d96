"""The registry of derived-store kinds: what each holds, how its assets are named and grouped,
which embedded server it lives on, and how to open it.

Adding a fifth store means an adapter (a `Store`), an entry here and a check module: the CLI,
the Dagster assets, jobs and checks, and the summaries all read this registry. Adapters are
imported only when a store is opened, so loading the definitions stays fast, and nothing here
imports an adapter at module level (adapters may import this module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING

from hubs.catalog import Catalog, Entity
from hubs.settings import Settings

if TYPE_CHECKING:
    from hubs.sync.engine import Store


def _holds_graph(entity: Entity) -> bool:
    return True


def _holds_cache(entity: Entity) -> bool:
    return bool(entity.cache)


def _holds_vectors(entity: Entity) -> bool:
    return entity.vectors is not None


def _holds_timeline(entity: Entity) -> bool:
    return entity.temporal and bool(entity.timeline_facts)


def _describe_graph(entity: Entity) -> str:
    return f"(:{entity.label} {{key}}) nodes and their relationships"


def _describe_cache(entity: Entity) -> str:
    return ", ".join(f"{e.key} (TTL {e.ttl_seconds} s)" for e in entity.cache)


def _describe_vectors(entity: Entity) -> str:
    return f"points in the {entity.vectors.collection} collection"


def _describe_timeline(entity: Entity) -> str:
    return f"one bi-temporal edge per belief about a version ({', '.join(entity.timeline_facts)})"


def _imported(target: str) -> Callable:
    module, function = target.split(":")
    return getattr(import_module(module), function)


@dataclass(frozen=True)
class StoreKind:
    name: str  # graph | cache | vectors | timeline: the CLI's word, the asset group, the key prefix
    whole: str  # the whole-store asset's name (graph/replica): what the store's checks guard
    technologies: frozenset[str]  # the asset's kinds tags in the UI
    server: str | None  # the embedded server it lives on (None: a folder, no server)
    opener: str  # "module:function(settings, catalog[, generation]) -> Store", imported when first opened
    holds: Callable[[Entity], bool]  # whether it keeps anything of an entity (from the meta only)
    describe: Callable[[Entity], str]  # what it keeps of an entity, in a line
    pinger: str  # "module:function(settings) -> str": the server's name and version, or ConnectionFailed
    locator: str  # "module:function(settings) -> str": where the server is, secrets masked

    def open(self, settings: Settings, catalog: Catalog, generation: int | None = None) -> Store:
        """A connected store, in its published generation or in `generation` (a builder's: see
        hubs/sync/generations.py); StoreUnavailable when its server cannot be reached."""
        if generation is None:
            return _imported(self.opener)(settings, catalog)
        return _imported(self.opener)(settings, catalog, generation)

    def ping(self, settings: Settings) -> str:
        return _imported(self.pinger)(settings)

    def location(self, settings: Settings) -> str:
        return _imported(self.locator)(settings)

    def held(self, catalog: Catalog) -> list[Entity]:
        return [e for e in catalog.entities if self.holds(e)]


KINDS: dict[str, StoreKind] = {
    k.name: k
    for k in (
        StoreKind(
            "graph",
            "replica",
            frozenset({"neo4j", "falkordb"}),
            "graph",
            "hubs.sync.graph.store:open_graph",
            _holds_graph,
            _describe_graph,
            "hubs.sync.pings:ping_graph",
            "hubs.sync.pings:graph_location",
        ),
        StoreKind(
            "cache",
            "keys",
            frozenset({"redis"}),
            "cache",
            "hubs.sync.cache:open_cache",
            _holds_cache,
            _describe_cache,
            "hubs.sync.pings:ping_cache",
            "hubs.sync.pings:cache_location",
        ),
        StoreKind(
            "vectors",
            "collections",
            frozenset({"qdrant"}),
            None,
            "hubs.sync.vectors:open_vectors",
            _holds_vectors,
            _describe_vectors,
            "hubs.sync.pings:ping_vectors",
            "hubs.sync.pings:vectors_location",
        ),
        StoreKind(
            "timeline",
            "edges",
            frozenset({"graphiti"}),
            "graph",
            "hubs.sync.timeline:open_timeline",
            _holds_timeline,
            _describe_timeline,
            "hubs.sync.pings:ping_graph",
            "hubs.sync.pings:graph_location",
        ),
    )
}
STORES = tuple(KINDS)


def kind(name: str) -> StoreKind:
    """The registered kind; a clear error for any other name (never a silent default)."""
    if name not in KINDS:
        raise ValueError(f"unknown store {name!r}; one of {', '.join(STORES)}")
    return KINDS[name]


def holds(name: str, entity: Entity) -> bool:
    return kind(name).holds(entity)
