"""Writing Graphiti's nodes and edges in bulk, with graphiti-core's own records and queries.

graphiti-core's `add_nodes_and_edges_bulk` needs no LLM, but on FalkorDB it saves nodes one
query each and walks every float of every embedding three times in Python (datetime
conversion, NUL stripping, the client's parameter header): ~1,000 records/s here. The records
and Cypher below are graphiti-core's (same properties, same MERGE on uuid, same vecf32 /
vector-property calls), sent as one UNWIND per batch; on FalkorDB the parameter header is
built with a fast path for vectors. What lands in the graph is what Graphiti itself writes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from falkordb.helpers import quote_string, stringify_param_value
from graphiti_core.driver.driver import GraphDriver, GraphProvider
from graphiti_core.edges import EntityEdge
from graphiti_core.models.edges.edge_db_queries import get_entity_edge_save_bulk_query
from graphiti_core.models.nodes.node_db_queries import get_entity_node_save_bulk_query
from graphiti_core.nodes import EntityNode

BATCH = 2000


def node_record(node: EntityNode) -> dict[str, Any]:
    """The properties graphiti-core's bulk save writes for an entity node."""
    record: dict[str, Any] = {
        "uuid": node.uuid,
        "name": node.name,
        "group_id": node.group_id,
        "summary": node.summary,
        "created_at": node.created_at,
        "name_embedding": node.name_embedding,
        "labels": sorted({*node.labels, "Entity"}),
    }
    for key, value in (node.attributes or {}).items():
        record.setdefault(key, value)
    return record


def edge_record(edge: EntityEdge) -> dict[str, Any]:
    """The properties graphiti-core's bulk save writes for an entity edge."""
    record: dict[str, Any] = {
        "uuid": edge.uuid,
        "source_node_uuid": edge.source_node_uuid,
        "target_node_uuid": edge.target_node_uuid,
        "name": edge.name,
        "fact": edge.fact,
        "group_id": edge.group_id,
        "episodes": edge.episodes,
        "created_at": edge.created_at,
        "expired_at": edge.expired_at,
        "valid_at": edge.valid_at,
        "invalid_at": edge.invalid_at,
        "reference_time": edge.reference_time,
        "fact_embedding": edge.fact_embedding,
    }
    for key, value in (edge.attributes or {}).items():
        record.setdefault(key, value)
    return record


class Writer(ABC):
    def __init__(self, driver: GraphDriver) -> None:
        self.driver = driver
        self.edge_query = get_entity_edge_save_bulk_query(driver.provider)

    @abstractmethod
    async def save_nodes(self, records: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    async def save_edges(self, records: list[dict[str, Any]]) -> None: ...


class Neo4jWriter(Writer):
    def __init__(self, driver: GraphDriver) -> None:
        super().__init__(driver)
        self.node_query = get_entity_node_save_bulk_query(driver.provider, [])

    async def save_nodes(self, records: list[dict[str, Any]]) -> None:
        await self.driver.execute_query(self.node_query, nodes=records)

    async def save_edges(self, records: list[dict[str, Any]]) -> None:
        await self.driver.execute_query(self.edge_query, entity_edges=records)


def header_value(value: Any) -> str:
    """A value in FalkorDB's CYPHER parameter header, as falkordb-py writes it, with datetimes as
    ISO text (as graphiti-core converts them) and NUL bytes dropped (FalkorDB rejects them)."""
    if isinstance(value, list):
        if value and isinstance(value[0], float):  # an embedding: hundreds of floats
            return "[" + ",".join(map(repr, value)) + "]"
        return "[" + ",".join(map(header_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"`{k}`:{header_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime):
        return quote_string(value.isoformat())
    if isinstance(value, str):
        return quote_string(value.replace("\x00", ""))
    if isinstance(value, bool):
        return "true" if value else "false"
    return stringify_param_value(value)


class FalkorWriter(Writer):
    def __init__(self, driver: GraphDriver) -> None:
        super().__init__(driver)
        # graphiti-core's per-node statement; ours all carry the single label Entity, so it
        # runs once over a whole batch.
        probe = {"uuid": "", "labels": ["Entity"]}
        self.node_query = get_entity_node_save_bulk_query(driver.provider, [probe])[0][0]

    async def _query(self, name: str, records: list[dict[str, Any]], query: str) -> None:
        header = f"CYPHER {name}={header_value(records)} "
        await self.driver.client.connection.execute_command(
            "GRAPH.QUERY", self.driver._database, header + query, "--compact"
        )

    async def save_nodes(self, records: list[dict[str, Any]]) -> None:
        await self._query("nodes", [{k: v for k, v in r.items() if k != "labels"} for r in records], self.node_query)

    async def save_edges(self, records: list[dict[str, Any]]) -> None:
        await self._query("entity_edges", records, self.edge_query)


def writer_for(driver: GraphDriver) -> Writer:
    if driver.provider == GraphProvider.FALKORDB:
        return FalkorWriter(driver)
    if driver.provider == GraphProvider.NEO4J:
        return Neo4jWriter(driver)
    raise ValueError(f"the timeline supports FalkorDB and Neo4j, not {driver.provider}")
