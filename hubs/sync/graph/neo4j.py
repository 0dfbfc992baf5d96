"""Neo4j over Bolt (production). Community edition has one database, shared with Graphiti's
timeline, so the replica only ever touches its own labels.

Generations (hubs/sync/generations.py) share that one database too: generation N's labels and
relationship types carry the suffix `__gN` (`Tractor__g2`, `DROVE__g2`; generation 0 none). The
dialect applies it to every query, in one place (`Scope`): a label or type is written after `:`
or `|` and starts with a capital letter (values are always parameters, never literals), and
`labels()` and `type()` answer without the suffix, so the replica's Cypher, its checks and
Recall's are the same on every generation. Every generation sees only its own labels, types,
constraints and indexes."""

from __future__ import annotations

import re
from typing import Any

from neo4j import GraphDatabase, Query, RoutingControl
from neo4j.exceptions import AuthError, ServiceUnavailable

from hubs.secrets import redact
from hubs.sync.engine import StoreUnavailable
from hubs.sync.graph.dialect import GraphDialect, SchemaItem

# Graphiti's node labels and relationship types (graphiti-core 0.31): its timeline shares the database.
GRAPHITI_LABELS = frozenset({"Entity", "Episodic", "Community", "Saga"})
GRAPHITI_TYPES = frozenset({"RELATES_TO", "MENTIONS", "HAS_MEMBER", "HAS_EPISODE", "NEXT_EPISODE"})
_TOKEN = re.compile(r"([:|])(\s*)(`?)([A-Z][A-Za-z0-9_]*)`?")
_LABELS = re.compile(r"\blabels\((\w+)\)")
_TYPE = re.compile(r"\btype\((\w+)\)")
_SUFFIXED = re.compile(r"__g\d+$")
_LISTINGS = ("CALL db.labels()", "CALL db.relationshipTypes()")
DELETE_BATCH = 10_000  # relationships or nodes removed per transaction


class Scope:
    """A generation's labels and types in the one database (see the module's docstring)."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.suffix = f"__g{generation}" if generation else ""

    def name(self, name: str) -> str:
        """A label or type as stored in this generation."""
        return name + self.suffix

    def owns(self, stored: str) -> bool:
        """Whether a stored label or type is this generation's."""
        return stored.endswith(self.suffix) and _SUFFIXED.sub("", stored) + self.suffix == stored

    def bare(self, stored: str) -> str:
        return stored[: len(stored) - len(self.suffix)] if self.suffix else stored

    def query(self, query: str) -> str:
        if not self.suffix:
            return query

        def token(m: re.Match) -> str:
            name = m.group(4)
            if name in GRAPHITI_LABELS or name in GRAPHITI_TYPES:
                return m.group(0)
            return f"{m.group(1)}{m.group(2)}`{name}{self.suffix}`"

        query = _TOKEN.sub(token, query)
        query = _LABELS.sub(lambda m: f"[l IN labels({m.group(1)}) | replace(l, '{self.suffix}', '')]", query)
        return _TYPE.sub(lambda m: f"replace(type({m.group(1)}), '{self.suffix}', '')", query)

    def listing(self, query: str, rows: list[list[Any]]) -> list[list[Any]]:
        """db.labels() and db.relationshipTypes(): this generation's, without the suffix
        (Graphiti's, which carry none, stay for the callers that look past them)."""
        if query.strip() not in _LISTINGS:
            return rows
        foreign = GRAPHITI_LABELS | GRAPHITI_TYPES
        # Graphiti's names keep theirs: "Saga" would lose its four letters to a suffix "__g2".
        return [[r[0] if r[0] in foreign else self.bare(r[0])] for r in rows if r[0] in foreign or self.owns(r[0])]


class Neo4jDialect(GraphDialect):
    foreign_labels = GRAPHITI_LABELS
    foreign_types = GRAPHITI_TYPES
    node_id = "elementId"  # id() is deprecated in Neo4j 5

    def __init__(self, uri: str, user: str, password: str | None, generation: int = 0) -> None:
        self.uri = uri
        self.scope = Scope(generation)
        self.description = f"Neo4j at {redact(uri)}" + (f" (generation {generation})" if generation else "")
        # The replica routinely names relationship types that have no edges yet (a sync that drops
        # owned edges, a check counting a type): Neo4j warns about each, FalkorDB does not.
        self.driver = GraphDatabase.driver(uri, auth=(user, password or ""), notifications_min_severity="OFF")
        try:
            self.driver.verify_connectivity()
        except (ServiceUnavailable, AuthError, OSError) as exc:
            self.driver.close()
            raise StoreUnavailable.reaching("Neo4j (graph)", uri, exc) from None

    def _execute(self, query: str | Query, params: dict[str, Any] | None, **how: Any) -> list[list[Any]]:
        try:
            records, _, _ = self.driver.execute_query(query, params or {}, **how)
        except ServiceUnavailable as exc:
            raise StoreUnavailable.reaching("Neo4j (graph, lost)", self.uri, exc) from None
        return [list(r.values()) for r in records]

    def _in_transactions(self, query: str, params: dict[str, Any] | None = None) -> None:
        """A `CALL { ... } IN TRANSACTIONS` query: it must run in an implicit transaction."""
        try:
            with self.driver.session() as session:
                session.run(query, params or {}).consume()
        except ServiceUnavailable as exc:
            raise StoreUnavailable.reaching("Neo4j (graph, lost)", self.uri, exc) from None

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        return self.scope.listing(query, self._execute(self.scope.query(query), params))

    def read(self, query: str, params: dict[str, Any] | None = None, timeout_ms: int | None = None) -> list[list[Any]]:
        timeout = timeout_ms / 1000 if timeout_ms else None
        scoped = Query(self.scope.query(query), timeout=timeout)
        return self.scope.listing(query, self._execute(scoped, params, routing_=RoutingControl.READ))

    # Names of constraints and indexes carry the generation's suffix (the statements' labels get
    # it from run()): `CREATE ... IF NOT EXISTS` under another generation's name would do nothing.
    def ensure_unique_key(self, label: str) -> None:
        name = self.scope.name(label)
        self.run(f"CREATE CONSTRAINT {name}_key IF NOT EXISTS FOR (n:{label}) REQUIRE n.key IS UNIQUE")

    def drop_unique_key(self, label: str) -> None:
        self.run(f"DROP CONSTRAINT {self.scope.name(label)}_key IF EXISTS")

    def drop_node_index(self, label: str, prop: str) -> None:
        self.run(f"DROP INDEX {self.scope.name(label)}_{prop} IF EXISTS")

    def ensure_node_index(self, label: str, prop: str) -> None:
        name = self.scope.name(label)
        self.run(f"CREATE INDEX {name}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})")

    def ensure_edge_index(self, rel_type: str, prop: str) -> None:
        name = self.scope.name(rel_type)
        self.run(f"CREATE INDEX {name}_{prop} IF NOT EXISTS FOR ()-[r:{rel_type}]-() ON (r.{prop})")

    def _indexes(self) -> list[list[Any]]:
        return self._execute(
            "SHOW INDEXES YIELD name, labelsOrTypes, properties, state, entityType, owningConstraint", None
        )

    def schema(self) -> list[SchemaItem]:
        items = []
        for _, labels, props, state, entity_type, owning in self._indexes():
            if not labels or not props or not self.scope.owns(labels[0]):
                continue  # the token lookup indexes, another generation's
            kind = "unique" if owning else ("node_index" if entity_type == "NODE" else "edge_index")
            items += [SchemaItem(kind, self.scope.bare(labels[0]), p, state == "ONLINE") for p in props]
        return items

    def delete_label(self, label: str) -> None:
        self._delete_stored(self.scope.name(label))

    def delete_nodes(self, label: str, keys: list[str]) -> None:
        stored = self.scope.name(label)
        self._delete_matched(f"UNWIND $keys AS k MATCH (n:`{stored}` {{key: k}})", {"keys": keys})

    def _delete_stored(self, stored: str) -> None:
        if not self._execute(f"MATCH (n:`{stored}`) RETURN count(n)", None)[0][0]:
            return  # from the count store, at once: an empty replica's clear costs no transactions
        self._delete_matched(f"MATCH (n:`{stored}`)", None)

    def _delete_matched(self, match: str, params: dict[str, Any] | None) -> None:
        """Remove the nodes `match` binds to `n`: their relationships first, streamed in
        transactions of a bounded size, then the nodes."""
        # A batch of nodes with DETACH DELETE holds all their relationships in one transaction:
        # a rebuild of the scale-0.2 replica passed the server's transaction memory limit
        # (dbms.memory.transaction.total.max) that way (its ~50 tractors alone hold 156,627
        # RECORDED_ON), and a sync deleting those tractors would too. Outgoing, then what is
        # left incoming: a relationship between two of the nodes is matched once.
        for pattern in ("(n)-[r]->()", "(n)<-[r]-()"):
            self._in_transactions(
                f"{match} MATCH {pattern} CALL (r) {{ DELETE r }} IN TRANSACTIONS OF {DELETE_BATCH} ROWS", params
            )
        self._in_transactions(f"{match} CALL (n) {{ DELETE n }} IN TRANSACTIONS OF {DELETE_BATCH} ROWS", params)

    def drop(self) -> None:
        if not self.scope.generation:
            raise ValueError("generation 0 of the graph is never dropped")
        for [label] in self._execute("CALL db.labels()", None):
            if self.scope.owns(label):
                self._delete_stored(label)
        for name, labels, _, _, _, owning in self._indexes():
            if labels and self.scope.owns(labels[0]):
                self._execute(f"DROP {'CONSTRAINT' if owning else 'INDEX'} `{owning or name}` IF EXISTS", None)

    def clear(self, labels: list[str]) -> None:
        for label in labels:
            self.delete_label(label)

    def close(self) -> None:
        self.driver.close()
