"""The embedded servers that stand in for production ones on a fresh machine."""

from __future__ import annotations

from hubs.servers.base import EmbeddedServer, ServerError, ServerStatus
from hubs.servers.postgres import PostgresServer
from hubs.servers.redis import CacheServer, GraphServer
from hubs.settings import Settings

__all__ = ["EmbeddedServer", "ServerError", "ServerStatus", "embedded_servers", "ensure_running"]


def embedded_servers(settings: Settings) -> dict[str, EmbeddedServer]:
    """Every embedded server, whether or not an environment variable replaces it."""
    return {
        "postgres": PostgresServer(settings, settings.postgres_port),
        "cache": CacheServer(settings, settings.redis_port),
        "graph": GraphServer(settings, settings.falkordb_port),
    }


def ensure_running(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Start the embedded servers that the settings rely on (or `names`); returns those started."""
    servers = embedded_servers(settings)
    wanted = names if names is not None else settings.embedded_servers_needed()
    return [name for name in wanted if servers[name].start()]
