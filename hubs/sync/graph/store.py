"""The relationship replica: every hub row a node, every relationship an edge.

Writes are batched (UNWIND), never a round trip per row. Node properties are replaced whole,
so a column that became NULL disappears from the node too. Edges owned by a row are deleted
and recreated with it; an edge whose other node is not in the graph yet (synced later, landed
later, or deleted and landed again) waits in PostgreSQL until that node arrives (pending.py).
"""

from __future__ import annotations

from collections import defaultdict

from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog, Entity
from hubs.settings import Settings
from hubs.sync.connections import graph_dialect
from hubs.sync.engine import Store
from hubs.sync.feed import Change
from hubs.sync.generations import resolve, sync_name
from hubs.sync.graph import pending, subset
from hubs.sync.graph.dialect import GraphDialect
from hubs.sync.graph.edges import VERSION, Edge, Relationships
from hubs.sync.kinds import holds
from hubs.sync.records import chunks, normalize, properties

BATCH = 2000


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
    wants_versions = True

    def __init__(self, dialect: GraphDialect, catalog: Catalog, generation: int = 0) -> None:
        self.dialect = dialect
        self.generation = generation  # the dialect's graph is this generation's (hubs/sync/generations.py)
        self.name = sync_name("graph", generation)
        self.relationships = Relationships(catalog)
        self.lookups = self.relationships.lookup_properties()
        self.conn: Connection | None = None

    def holds(self, entity: Entity) -> bool:
        return holds("graph", entity)

    def begin(self, conn: Connection) -> None:
        self.conn = conn
        pending.ensure(conn, self.generation)

    def _pending_conn(self) -> Connection:
        if self.conn is None:
            raise RuntimeError("GraphStore.begin(conn) must come before writes (relationships may wait in PostgreSQL)")
        return self.conn

    def prepare(self, catalog: Catalog) -> None:
        for entity in catalog.entities:
            label = entity.label
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
        conn = self._pending_conn()
        label = entity.label
        rows = [{"key": c.key, "props": {**properties(entity, c.row), "key": c.key}} for c in changes]
        fresh = entity.model in self.fresh  # emptied by this sync: no node, no relationship of theirs yet
        node = f"CREATE (n:{label})" if fresh else f"MERGE (n:{label} {{key: r.key}})"
        for part in chunks(rows, BATCH):
            self.dialect.run(f"UNWIND $rows AS r {node} SET n = r.props", {"rows": part})
        if not fresh:
            self.drop_owned_edges(entity, [c.key for c in changes])
        edges: list[Edge] = []
        for change in changes:
            found = self.relationships.direct(entity, change.key, change.row)
            found += self.relationships.versions(entity, change.key, change.versions)
            found += self.relationships.indirect(entity, change.key, change.row)
            edges += owned(found, label, change.key)
        missing = self._create_edges(edges)
        pending.add(conn, (edges[i] for i in missing), self.generation)
        self._write_waiting(entity, changes)
        self.dialect.after_writes()

    def _write_waiting(self, entity: Entity, changes: list[Change]) -> None:
        """Relationships that waited for these nodes (see pending.py), written now."""
        conn = self._pending_conn()
        label = entity.label
        if not pending.touches(conn, label, self.generation):  # nothing waits: skip the lookups by key
            return
        waiting = pending.waiting_for(conn, label, "key", [c.key for c in changes], self.generation)
        for prop in sorted(self.lookups.get(label, ())):
            values = sorted({str(normalize(c.row[prop])) for c in changes if c.row.get(prop) is not None})
            if values:
                waiting.update(pending.waiting_for(conn, label, prop, values, self.generation))
        if not waiting:
            return
        ids, edges = list(waiting), list(waiting.values())
        # A sync that died after writing them but before forgetting them wrote them already.
        self._delete_edges(edges)
        missing = set(self._create_edges(edges))
        pending.resolved(conn, (id_ for n, id_ in enumerate(ids) if n not in missing), self.generation)

    def drop_owned_edges(self, entity: Entity, keys: list[str]) -> None:
        label = entity.label
        owners = [{"key": k, "owner": f"{label}:{k}"} for k in keys]
        for part in chunks(owners, BATCH):
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
        pending.drop_owned(self._pending_conn(), [o["owner"] for o in owners], self.generation)

    @staticmethod
    def _groups(edges: list[Edge]) -> dict[tuple[str, str, str, str], list[int]]:
        groups: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
        for n, edge in enumerate(edges):
            groups[(edge.type, edge.from_label, edge.to_label, edge.to_property)].append(n)
        return groups

    def _create_edges(self, edges: list[Edge]) -> list[int]:
        """Write the relationships; the positions of those with a node missing (not written)."""
        missing: list[int] = []
        for (rel_type, from_label, to_label, to_property), positions in self._groups(edges).items():
            for part in chunks(positions, BATCH):
                items = [{"i": n, "a": edges[n].from_key, "b": edges[n].to_key, "props": edges[n].props} for n in part]
                both = (
                    f"UNWIND $edges AS e MATCH (a:{from_label} {{key: e.a}}) "
                    f"MATCH (b:{to_label} {{{to_property}: e.b}}) "
                )
                # A count, not the written positions: streaming 2,000 rows back cost Neo4j a quarter
                # of the write. Only a batch with a node missing asks which.
                [[count]] = self.dialect.run(
                    f"{both}CREATE (a)-[r:{rel_type}]->(b) SET r = e.props RETURN count(DISTINCT e.i)", {"edges": items}
                )
                if count < len(part):
                    found = self.dialect.run(
                        f"{both}RETURN DISTINCT e.i", {"edges": [{**e, "props": None} for e in items]}
                    )
                    done = {int(row[0]) for row in found}
                    missing += [n for n in part if n not in done]
        return missing

    def _delete_edges(self, edges: list[Edge]) -> None:
        """Remove these relationships (every copy of each owner's relationship between the two nodes)."""
        for (rel_type, from_label, to_label, to_property), positions in self._groups(edges).items():
            items = sorted({(edges[n].props["_owner"], edges[n].from_key, edges[n].to_key) for n in positions})
            for part in chunks([{"owner": o, "a": a, "b": b} for o, a, b in items], BATCH):
                # No type in the pattern: FalkorDB would reach the edges through its `_owner` index,
                # which loses node 0's edges once the server has loaded a snapshot (falkordb_indexes.py).
                self.dialect.run(
                    f"UNWIND $edges AS e MATCH (a:{from_label} {{key: e.a}})-[r]->"
                    f"(b:{to_label} {{{to_property}: e.b}}) WHERE type(r) = $type AND r._owner = e.owner DELETE r",
                    {"edges": part, "type": rel_type},
                )

    def delete(self, entity: Entity, keys: list[str]) -> None:
        conn = self._pending_conn()
        label = entity.label
        self.drop_owned_edges(entity, keys)
        # Committed before a node goes: the graph deletes in transactions of its own (Neo4j in
        # many, of DELETE_BATCH), so a sync that dies midway must find these here, not lost with
        # the rolled-back rest of its transaction. (The sync's watermarks are committed already.)
        pending.add_missing(conn, self._others_edges(entity, keys), self.generation)
        conn.commit()
        for part in chunks(keys, BATCH):
            self.dialect.delete_nodes(label, part)
        self.dialect.after_writes()

    def _others_edges(self, entity: Entity, keys: list[str]) -> list[Edge]:
        """Relationships of other rows that touch these nodes: they wait for the keys to come back
        (a row that still cites a deleted row is linked again if that row is landed again)."""
        label = entity.label
        parked: list[Edge] = []
        for part in chunks(keys, BATCH):
            params = {"keys": part, "own": f"{label}:"}
            for pattern, incoming in (("(o)-[r]->(n)", True), ("(n)-[r]->(o)", False)):
                rows = self.dialect.run(
                    f"UNWIND $keys AS k MATCH (n:{label} {{key: k}}) MATCH {pattern} "
                    "WHERE r._owner IS NOT NULL AND r._owner <> $own + k "
                    "RETURN type(r), labels(o), o.key, k, properties(r), properties(n)",
                    params,
                )
                for rel_type, other_labels, other_key, key, props, node in rows:
                    other = next((x for x in other_labels if x not in self.dialect.foreign_labels), other_labels[0])
                    if incoming:
                        prop = self.relationships.target_property(rel_type, other, label)
                        end = key if prop == "key" else str(normalize(node.get(prop)))
                        parked.append(Edge(rel_type, other, str(other_key), label, end, dict(props), prop))
                    else:
                        parked.append(Edge(rel_type, label, key, other, str(other_key), dict(props)))
        return parked

    def clear(self, catalog: Catalog) -> None:
        self.dialect.clear([e.label for e in catalog.entities])
        if self.conn is not None:
            pending.clear(self.conn, self.generation)

    def clear_entities(self, catalog: Catalog, entities: list[Entity]) -> None:
        # subset.py parks the other rows' relationships to them first.
        subset.clear_entities(self, self._pending_conn(), entities)

    def size(self, catalog: Catalog) -> dict[str, int]:
        # Only the replica's, label by label and type by type: on Neo4j, Graphiti's timeline (the
        # dialect's foreign labels and types) and the replica's other generations share the
        # database, and the listings show a generation its own names only (FalkorDB keeps each in a
        # graph of its own). Both servers count a label or a type without a scan.
        labels = [r[0] for r in self.dialect.run("CALL db.labels()") if r[0] not in self.dialect.foreign_labels]
        types = [
            r[0] for r in self.dialect.run("CALL db.relationshipTypes()") if r[0] not in self.dialect.foreign_types
        ]
        nodes = sum(self.dialect.run(f"MATCH (n:`{label}`) RETURN count(n)")[0][0] for label in labels)
        relationships = sum(self.dialect.run(f"MATCH ()-[r:`{t}`]->() RETURN count(r)")[0][0] for t in types)
        sizes = {"nodes": int(nodes), "relationships": int(relationships)}
        if self.conn is not None:
            sizes["relationships waiting for a node"] = pending.count(self.conn, self.generation)
        return sizes

    def close(self) -> None:
        self.dialect.close()


def owned(edges: list[Edge], owner_label: str, owner_key: str) -> list[Edge]:
    """Edges stamped with the row that owns them."""
    stamp = f"{owner_label}:{owner_key}"
    return [
        Edge(e.type, e.from_label, e.from_key, e.to_label, e.to_key, {**e.props, "_owner": stamp}, e.to_property)
        for e in edges
    ]


def open_graph(settings: Settings, catalog: Catalog, generation: int | None = None) -> GraphStore:
    """The replica on Neo4j (HUBS_NEO4J_URI) or FalkorDB (see hubs.sync.kinds), in its published
    generation unless another is named (a builder's)."""
    if generation is None:
        generation = resolve(settings, "graph")
    return GraphStore(graph_dialect(settings, generation=generation), catalog, generation)
