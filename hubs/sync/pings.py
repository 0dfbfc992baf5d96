"""Where each derived store's server is, and whether it answers: what `hubs status` and the
store resources show. One function pair per server; the registry (hubs.sync.kinds) names them."""

from __future__ import annotations

import redis

from hubs.secrets import connection_error
from hubs.settings import Settings, redact

CACHE_SERVER = "Redis (cache)"


def cache_location(settings: Settings) -> str:
    return redact(settings.effective_redis_url)


def ping_cache(settings: Settings) -> str:
    url = settings.effective_redis_url
    try:
        info = redis.Redis.from_url(url, socket_timeout=2).info("server")
    except (redis.RedisError, ValueError) as exc:
        raise connection_error(CACHE_SERVER, url, exc) from None
    return f"Redis {info['redis_version']}"


def graph_location(settings: Settings) -> str:
    return redact(settings.neo4j_uri or settings.effective_falkordb_url)


def ping_graph(settings: Settings) -> str:
    if settings.neo4j_uri:
        return _ping_neo4j(settings)
    url = settings.effective_falkordb_url
    try:
        conn = redis.Redis.from_url(url, socket_timeout=2)
        modules = {m[b"name"].decode(): m[b"ver"] for m in conn.module_list()}
    except (redis.RedisError, ValueError) as exc:
        raise connection_error("FalkorDB (graph)", url, exc) from None
    if "graph" not in modules:
        raise RuntimeError(f"{redact(url)} has no FalkorDB module loaded")
    version = int(modules["graph"])  # FalkorDB reports 4.16.3 as 41603
    return f"FalkorDB {version // 10000}.{version // 100 % 100}.{version % 100}"


def _ping_neo4j(settings: Settings) -> str:
    from neo4j import GraphDatabase

    auth = (settings.neo4j_user, settings.neo4j_password or "")
    try:
        with GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
            return f"Neo4j {driver.get_server_info().agent}"
    except Exception as exc:  # the driver raises several families (auth, service, config, OSError)
        raise connection_error("Neo4j (graph)", settings.neo4j_uri, exc) from None


def vectors_location(settings: Settings) -> str:
    return redact(settings.qdrant_url) if settings.qdrant_url else f"local mode at {settings.home / 'qdrant'}"


def ping_vectors(settings: Settings) -> str:
    if not settings.qdrant_url:
        return "qdrant-client local mode (no server)"
    from qdrant_client import QdrantClient

    try:
        client = QdrantClient(url=settings.qdrant_url, timeout=3)
        return f"Qdrant ({len(client.get_collections().collections)} collections)"
    except Exception as exc:  # httpx, grpc and qdrant's own errors alike
        raise connection_error("Qdrant (vectors)", settings.qdrant_url, exc) from None
