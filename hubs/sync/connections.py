"""Reaching each derived store's server from the settings: the production server when its
variable is set, else the embedded one (started on demand). The CLI, the Dagster resources, the
adapters and the tests all connect here, so they always reach the same place."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit, urlunsplit

import redis

from hubs.servers import ensure_running
from hubs.settings import Settings
from hubs.sync.generations import physical, resolve
from hubs.sync.graph.dialect import GraphDialect

# Graphiti's graph on FalkorDB (a group_id there is the graph's name, so both are this).
TIMELINE_GRAPH = "hubs_timeline"


def _embedded(settings: Settings, server: str) -> None:
    if server in settings.embedded_servers_needed():
        ensure_running(settings, [server])


def graph_dialect(settings: Settings, start: bool = True, generation: int | None = None) -> GraphDialect:
    """The graph server's dialect, on the replica's published generation unless another is named
    (hubs/sync/generations.py: resolving it reads PostgreSQL); `start=False` for a reader, which
    must never start a server (a stopped graph means answers from PostgreSQL, not a graph
    restarted behind an operator)."""
    if generation is None:
        generation = resolve(settings, "graph")
    if settings.neo4j_uri:
        from hubs.sync.graph.neo4j import Neo4jDialect

        return Neo4jDialect(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, generation)
    from hubs.sync.graph.falkordb import GRAPH, FalkorDialect

    if start:
        _embedded(settings, "graph")
    return FalkorDialect(settings.effective_falkordb_url, physical(GRAPH, generation))


def cache_home(settings: Settings) -> int:
    """The Redis database the cache's readers use (its URL's): the published generation's."""
    return int(redis.connection.parse_url(settings.effective_redis_url).get("db", 0))


def cache_client(settings: Settings, start: bool = True, timeout: float = 30, db: int | None = None) -> redis.Redis:
    """The cache's Redis, in its URL's database or in database `db` (a generation being built)."""
    if start:
        _embedded(settings, "cache")
    url = settings.effective_redis_url
    if db is not None:
        parts = urlsplit(url)
        url = urlunsplit((parts.scheme, parts.netloc, f"/{int(db)}", parts.query, parts.fragment))
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def timeline_driver(settings: Settings, start: bool = True, generation: int | None = None):
    """Graphiti's driver to the timeline's graph, of its published generation unless another is
    named (on FalkorDB a graph per generation, named as its group id); `start=False` for a reader
    (see graph_dialect)."""
    if generation is None:
        generation = resolve(settings, "timeline")
    # Graphiti reports usage to PostHog unless told not to; the platform never phones home.
    os.environ.setdefault("GRAPHITI_TELEMETRY_ENABLED", "false")
    if settings.neo4j_uri:
        from graphiti_core.driver.neo4j_driver import Neo4jDriver

        return Neo4jDriver(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password or "")
    from graphiti_core.driver.falkordb_driver import FalkorDriver

    if start:
        _embedded(settings, "graph")
    url = urlsplit(settings.effective_falkordb_url)
    return FalkorDriver(
        host=url.hostname or "127.0.0.1",
        port=url.port or 6379,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        database=physical(TIMELINE_GRAPH, generation),
    )
