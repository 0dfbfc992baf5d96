"""Neo4j over Bolt (production). Community edition has one database, shared with Graphiti's
timeline, so the replica only ever touches its own labels."""

from __future__ import annotations

from typing import Any

from neo4j import GraphDatabase, Query, RoutingControl
from neo4j.exceptions import AuthError, ServiceUnavailable

from hubs.secrets import redact
from hubs.sync.engine import StoreUnavailable
from hubs.sync.graph.dialect import GraphDialect, SchemaItem

# Graphiti's node labels and relationship types (graphiti-core 0.31): its timeline shares the database.
GRAPHITI_LABELS = frozenset({"Entity", "Episodic", "Community", "Saga"})
GRAPHITI_TYPES = frozenset({"RELATES_TO", "MENTIONS", "HAS_MEMBER", "HAS_EPISODE", "NEXT_EPISODE"})


class Neo4jDialect(GraphDialect):
    foreign_labels = GRAPHITI_LABELS
    foreign_types = GRAPHITI_TYPES
    node_id = "elementId"  # id() is deprecated in Neo4j 5

    def __init__(self, uri: str, user: str, password: str | None) -> None:
        self.uri = uri
        self.description = f"Neo4j at {redact(uri)}"
        # The replica routinely names relationship types that have no edges yet (a sync that drops
        # owned edges, a check counting a type): Neo4j warns about each, FalkorDB does not.
        self.driver = GraphDatabase.driver(uri, auth=(user, password or ""), notifications_min_severity="OFF")
        try:
            self.driver.verify_connectivity()
        except (ServiceUnavailable, AuthError, OSError) as exc:
            self.driver.close()
            raise StoreUnavailable.reaching("Neo4j (graph)", uri, exc) from None

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        try:
            records, _, _ = self.driver.execute_query(query, params or {})
        except ServiceUnavailable as exc:
            raise StoreUnavailable.reaching("Neo4j (graph, lost)", self.uri, exc) from None
        return [list(r.values()) for r in records]

    def read(self, query: str, params: dict[str, Any] | None = None, timeout_ms: int | None = None) -> list[list[Any]]:
        timeout = timeout_ms / 1000 if timeout_ms else None
        try:
            records, _, _ = self.driver.execute_query(
                Query(query, timeout=timeout), params or {}, routing_=RoutingControl.READ
            )
        except ServiceUnavailable as exc:
            raise StoreUnavailable.reaching("Neo4j (graph, lost)", self.uri, exc) from None
        return [list(r.values()) for r in records]

    def ensure_unique_key(self, label: str) -> None:
        self.run(f"CREATE CONSTRAINT {label}_key IF NOT EXISTS FOR (n:{label}) REQUIRE n.key IS UNIQUE")

    def drop_unique_key(self, label: str) -> None:
        self.run(f"DROP CONSTRAINT {label}_key IF EXISTS")

    def drop_node_index(self, label: str, prop: str) -> None:
        self.run(f"DROP INDEX {label}_{prop} IF EXISTS")

    def ensure_node_index(self, label: str, prop: str) -> None:
        self.run(f"CREATE INDEX {label}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})")

    def ensure_edge_index(self, rel_type: str, prop: str) -> None:
        self.run(f"CREATE INDEX {rel_type}_{prop} IF NOT EXISTS FOR ()-[r:{rel_type}]-() ON (r.{prop})")

    def schema(self) -> list[SchemaItem]:
        items = []
        for labels, props, state, entity_type, owning in self.run(
            "SHOW INDEXES YIELD labelsOrTypes, properties, state, entityType, owningConstraint"
        ):
            if not labels or not props:
                continue  # the token lookup indexes
            kind = "unique" if owning else ("node_index" if entity_type == "NODE" else "edge_index")
            items += [SchemaItem(kind, labels[0], p, state == "ONLINE") for p in props]
        return items

    def clear(self, labels: list[str]) -> None:
        for label in labels:
            while self.run(f"MATCH (n:{label}) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*)")[0][0]:
                pass

    def close(self) -> None:
        self.driver.close()
