"""The relationship replica: Neo4j when HUBS_NEO4J_URI is set, else FalkorDB."""

from __future__ import annotations

import redis
from dagster import ConfigurableResource

from hubs import settings as hubs_settings
from hubs.secrets import connection_error
from hubs.settings import Settings, redact


class GraphResource(ConfigurableResource):
    """HUBS_NEO4J_URI (Bolt), else HUBS_FALKORDB_URL, else the embedded FalkorDB."""

    def describe(self) -> str:
        settings = hubs_settings.load()
        return redact(settings.neo4j_uri or settings.effective_falkordb_url)

    def ping(self) -> str:
        settings = hubs_settings.load()
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
