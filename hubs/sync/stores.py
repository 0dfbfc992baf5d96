"""Opening each derived store from the settings: the production server when its variable is
set, else the embedded one (started on demand). The CLI, the Dagster resources and the tests
all open stores here, so they always reach the same place."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import redis

from hubs.catalog import Catalog, Entity
from hubs.servers import ensure_running
from hubs.settings import Settings
from hubs.sync.engine import Store, StoreUnavailable
from hubs.sync.graph.dialect import GraphDialect

STORES = ("graph", "cache", "vectors", "timeline")
# Graphiti's graph on FalkorDB (a group_id there is the graph's name, so both are this).
TIMELINE_GRAPH = "hubs_timeline"


def holds(kind: str, entity: Entity) -> bool:
    """Whether a store of this kind keeps anything of the entity (read from its meta only)."""
    if kind == "graph":
        return True
    if kind == "cache":
        return bool(entity.meta.get("cache"))
    if kind == "vectors":
        return bool(entity.meta.get("vectors"))
    if kind == "timeline":
        return entity.history in ("scd2", "interval") and bool(entity.meta.get("timeline", {}).get("facts"))
    raise ValueError(f"unknown store {kind!r}; one of {', '.join(STORES)}")


def describe(kind: str, entity: Entity) -> str:
    """What the store holds of the entity, in a line (asset descriptions, docs)."""
    label = entity.meta["label"]
    if kind == "graph":
        return f"(:{label} {{key}}) nodes and their relationships"
    if kind == "cache":
        return ", ".join(f"{e['key']} (TTL {e['ttl_seconds']} s)" for e in entity.meta["cache"])
    if kind == "vectors":
        return f"points in the {entity.meta['vectors']['collection']} collection"
    return f"one bi-temporal edge per version ({', '.join(entity.meta['timeline']['facts'])})"


def _embedded(settings: Settings, server: str) -> None:
    if server in settings.embedded_servers_needed():
        ensure_running(settings, [server])


def graph_dialect(settings: Settings) -> GraphDialect:
    if settings.neo4j_uri:
        from hubs.sync.graph.neo4j import Neo4jDialect

        return Neo4jDialect(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password)
    from hubs.sync.graph.falkordb import FalkorDialect

    _embedded(settings, "graph")
    return FalkorDialect(settings.effective_falkordb_url)


def cache_client(settings: Settings) -> redis.Redis:
    _embedded(settings, "cache")
    return redis.Redis.from_url(settings.effective_redis_url, socket_timeout=30)


def timeline_driver(settings: Settings):
    # Graphiti reports usage to PostHog unless told not to; the platform never phones home.
    os.environ.setdefault("GRAPHITI_TELEMETRY_ENABLED", "false")
    if settings.neo4j_uri:
        from graphiti_core.driver.neo4j_driver import Neo4jDriver

        return Neo4jDriver(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password or "")
    from graphiti_core.driver.falkordb_driver import FalkorDriver

    _embedded(settings, "graph")
    url = urlsplit(settings.effective_falkordb_url)
    return FalkorDriver(
        host=url.hostname or "127.0.0.1",
        port=url.port or 6379,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        database=TIMELINE_GRAPH,
    )


def open_store(kind: str, settings: Settings, catalog: Catalog) -> Store:
    """A connected store of this kind; StoreUnavailable when its server cannot be reached."""
    if kind == "graph":
        from hubs.sync.graph.store import GraphStore

        return GraphStore(graph_dialect(settings), catalog)
    if kind == "cache":
        from hubs.sync.cache import CacheStore

        return CacheStore(cache_client(settings))
    if kind == "vectors":
        from hubs.embeddings import embedder_from_env
        from hubs.sync.vectors import VectorStore, open_client

        return VectorStore(open_client(settings.qdrant_url, settings.home / "qdrant"), embedder_from_env())
    if kind == "timeline":
        from hubs.embeddings import embedder_from_env
        from hubs.sync.timeline import TimelineStore

        store = TimelineStore(timeline_driver(settings), embedder_from_env(), catalog)
        store.ping()
        return store
    raise ValueError(f"unknown store {kind!r}; one of {', '.join(STORES)}")


@contextmanager
def opened(kind: str, settings: Settings, catalog: Catalog) -> Iterator[Store]:
    store = open_store(kind, settings, catalog)
    try:
        yield store
    finally:
        store.close()


__all__ = ["STORES", "StoreUnavailable", "open_store", "opened"]
