"""Redis, the cache of real-time truck state and hot query results."""

from __future__ import annotations

import redis
from dagster import ConfigurableResource

from hubs import settings as hubs_settings
from hubs.secrets import connection_error
from hubs.settings import redact

SERVER = "Redis (cache)"


class CacheResource(ConfigurableResource):
    """HUBS_REDIS_URL, or the embedded redis-server (volatile-lru: only keys with a TTL are evicted,
    never the row-to-keys index; no persistence)."""

    def describe(self) -> str:
        return redact(hubs_settings.load().effective_redis_url)

    def ping(self) -> str:
        url = hubs_settings.load().effective_redis_url
        try:
            info = redis.Redis.from_url(url, socket_timeout=2).info("server")
        except (redis.RedisError, ValueError) as exc:
            raise connection_error(SERVER, url, exc) from None
        return f"Redis {info['redis_version']}"
