"""The relationship replica: every hub row a node, every relationship an edge.

Writes are batched (UNWIND), never a round trip per row. Node properties are replaced whole,
so a column that became NULL disappears from the node too. Edges owned by a row are deleted
and recreated with it; edges whose target may not exist yet (polymorphic, arrays, JSON) are
written once every entity of the run has its nodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from hubs.catalog import Catalog, Entity
from hubs.sync.engine import Store
from hubs.sync.feed import Change
from hubs.sync.graph.dialect import GraphDialect
from hubs.sync.graph.edges import VERSION, Edge, Relationships
from hubs.sync.records import properties
from hubs.sync.stores import holds

BATCH = 2000


def _chunks(items: list[Any], size: int = BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def filtered_properties(entity: Entity) -> list[str]:
    """Properties the graph indexes: the catalog's indexed columns and the time bounds."""
    names: list[str] = []
    for columns in entity.indexes:
        names += [
            c
            for c in columns
            if c not in names
            and entity.column(c).data_type not in ("point", "jsonb")
            and not entity.column(c).data_type.endswith("[]")
        ]
    for name in ("status", "valid_from", "valid_to"):
        if name not in names and any(c.name == name for c in entity.columns):
            names.append(name)
    return names


def indexed_properties(entity: Entity, dialect: GraphDialect) -> list[str]:
    """The filtered properties the graph server indexes: those its index answers right."""
    return [p for p in filtered_properties(entity) if dialect.indexes_right(entity.column(p).data_type)]


class GraphStore(Store):
    name = "graph"
    wants_versions = True

    def __init__(self, dialect: GraphDialect, catalog: Catalog) -> None:
        self.dialect = dialect
        self.relationships = Relationships(catalog)
        self.deferred: list[Edge] = []

    def holds(self, entity: Entity) -> bool:
        return holds("graph", entity)

    def prepare(self, catalog: Catalog) -> None:
        for entity in catalog.entities:
            label = entity.meta["label"]
            self.dialect.ensure_unique_key(label)
            indexed = indexed_properties(entity, self.dialect)
            for prop in filtered_properties(entity):
                if prop in indexed:
                    self.dialect.ensure_node_index(label, prop)
                else:  # one an older sync made, through which the server would answer wrongly
                    self.dialect.drop_node_index(label, prop)
            for rel_type in self.relationships.projection_types(entity):
                self.dialect.ensure_edge_index(rel_type, "_owner")
        self.dialect.ensure_edge_index(VERSION, "_owner")

    # -- writing -----------------------------------------------------------------------------------

    def upsert(self, entity: Entity, changes: list[Change]) -> None:
        label = entity.meta["label"]
        rows = [{"key": c.key, "props": {**properties(entity, c.row), "key": c.key}} for c in changes]
        for part in _chunks(rows):
            self.dialect.run(f"UNWIND $rows AS r MERGE (n:{label} {{key: r.key}}) SET n = r.props", {"rows": part})
        self._drop_owned_edges(entity, [c.key for c in changes])
        direct: list[Edge] = []
        for change in changes:
            edges = self.relationships.direct(entity, change.key, change.row)
            # A row may refer to a row of its own entity that a later chunk brings (a goal's parent,
            # a superseding decision): those edges wait for finish() like the indirect ones.
            later = [e for e in edges if e.from_label == e.to_label == label]
            edges = [e for e in edges if e not in later]
            edges += self.relationships.versions(entity, change.key, change.versions)
            direct += owned(edges, label, change.key)
            self.deferred += owned(later, label, change.key)
            self.deferred += owned(self.relationships.indirect(entity, change.key, change.row), label, change.key)
        self._create_edges(direct)

    def _drop_owned_edges(self, entity: Entity, keys: list[str]) -> None:
        label = entity.meta["label"]
        owners = [{"key": k, "owner": f"{label}:{k}"} for k in keys]
        for part in _chunks(owners):
            self.dialect.run(
                # DISTINCT: an undirected pattern meets a self-relationship (VERSION) twice.
                f"UNWIND $owners AS o MATCH (n:{label} {{key: o.key}})-[r]-() WHERE r._owner = o.owner "
                "WITH DISTINCT r DELETE r",
                {"owners": part},
            )
            for rel_type in self.relationships.projection_types(entity):
                self.dialect.run(
                    f"UNWIND $owners AS o MATCH ()-[r:{rel_type} {{_owner: o.owner}}]->() DELETE r", {"owners": part}
                )

    def _create_edges(self, edges: list[Edge]) -> None:
        groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for edge in edges:
            groups[(edge.type, edge.from_label, edge.to_label, edge.to_property)].append(
                {"a": edge.from_key, "b": edge.to_key, "props": edge.props}
            )
        for (rel_type, from_label, to_label, to_property), items in groups.items():
            for part in _chunks(items):
                self.dialect.run(
                    f"UNWIND $edges AS e MATCH (a:{from_label} {{key: e.a}}) "
                    f"MATCH (b:{to_label} {{{to_property}: e.b}}) CREATE (a)-[r:{rel_type}]->(b) SET r = e.props",
                    {"edges": part},
                )

    def finish(self) -> None:
        edges, self.deferred = self.deferred, []
        self._create_edges(edges)

    def delete(self, entity: Entity, keys: list[str]) -> None:
        label = entity.meta["label"]
        self._drop_owned_edges(entity, keys)
        for part in _chunks(keys):
            # The label goes first: FalkorDB 4.16 sometimes kept a plain DETACH DELETEd node in its
            # label scan (any later read of the label then failed with "Attempted to access
            # undefined attribute"; tests/test_sync.py's refresh delete reproduced it every time).
            self.dialect.run(
                f"UNWIND $keys AS k MATCH (n:{label} {{key: k}}) WITH n REMOVE n:{label} DETACH DELETE n",
                {"keys": part},
            )

    def clear(self, catalog: Catalog) -> None:
        self.dialect.clear([e.meta["label"] for e in catalog.entities])

    def size(self, catalog: Catalog) -> dict[str, int]:
        [[nodes]] = self.dialect.run("MATCH (n) RETURN count(n)")
        [[relationships]] = self.dialect.run("MATCH ()-[r]->() RETURN count(r)")
        return {"nodes": int(nodes), "relationships": int(relationships)}

    def close(self) -> None:
        self.dialect.close()


def owned(edges: list[Edge], owner_label: str, owner_key: str) -> list[Edge]:
    """Edges stamped with the row that owns them."""
    stamp = f"{owner_label}:{owner_key}"
    return [
        Edge(e.type, e.from_label, e.from_key, e.to_label, e.to_key, {**e.props, "_owner": stamp}, e.to_property)
        for e in edges
    ]
