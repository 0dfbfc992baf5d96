"""The Graphiti timeline: every belief about every version of a tracked entity as a bi-temporal edge.

Written without an LLM, through graphiti-core's bulk save with stable UUIDs and our own
embedder. An SCD-2 version becomes a `<ENTITY>_STATE` edge on the entity's node; an interval
row that projects an edge (a driver DROVE a tractor, G OWNS a company) becomes that edge
between the two; other interval rows become state edges of their own node. valid_at /
invalid_at are the version's valid_from / valid_to (true in the world); created_at / expired_at
are when the platform believed it (hubs/recall/history.py's known_from / known_to: the landing
time of the file that brought it and of the one that corrected, cut short or deleted it).
A superseded belief stays, expired, as Graphiti keeps what it learnt was wrong; the current
beliefs are the edges with no expired_at. On FalkorDB the timeline is a graph of its own; on
Neo4j Community it shares the database with the replica, so its nodes carry only Graphiti's own
label.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import redis
from graphiti_core.driver.driver import GraphDriver, GraphProvider
from graphiti_core.edges import EntityEdge
from graphiti_core.graph_queries import get_fulltext_indices, get_range_indices
from graphiti_core.nodes import EntityNode
from neo4j.exceptions import ServiceUnavailable
from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog, Entity
from hubs.embeddings import Embedder
from hubs.faults import failpoint
from hubs.secrets import scrub
from hubs.settings import Settings
from hubs.sync.connections import TIMELINE_GRAPH, timeline_driver
from hubs.sync.engine import Store, StoreUnavailable
from hubs.sync.feed import Change
from hubs.sync.generations import physical, resolve, sync_name
from hubs.sync.graph.edges import Relationships
from hubs.sync.graph.falkordb import log_needs_rewrite
from hubs.sync.graph.falkordb_indexes import range_indexes, reserve_node_zero
from hubs.sync.kinds import holds
from hubs.sync.records import normalize
from hubs.sync.timeline_beliefs import KNOWN, current, known_since, superseded, versioned
from hubs.sync.timeline_writes import BATCH, edge_record, node_record, writer_for

GROUP = TIMELINE_GRAPH
# Graphiti's times, kept as ISO text on FalkorDB and compared by range
TIME_PROPERTIES = frozenset({"created_at", "valid_at", "invalid_at", "expired_at"})
NAMESPACE = uuid.UUID("3f0c7d0e-9a1b-4c55-8b7e-5d2c1e9a7f40")
#: created_at of a belief recorded before transaction time was (history.py: since -infinity)
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)


def group_of(generation: int) -> str:
    """The timeline's Graphiti group id in a generation (hubs/sync/generations.py); on FalkorDB
    also its graph's name (Graphiti reads a group from the graph of that name)."""
    return physical(GROUP, generation)


def node_uuid(label: str, key: str, scope: str = "") -> str:
    """A node's uuid; `scope` (TimelineStore.scope) keeps generations that share a database apart."""
    return str(uuid.uuid5(NAMESPACE, f"{scope}node:{label}:{key}"))


def edge_uuid(entity: Entity, key: str, valid_from: str, known_from_seq: int | None, scope: str = "") -> str:
    """A belief's edge: one version as believed since one landed row. It keeps its uuid when it is
    superseded (only expired_at is set), so reruns and later corrections find it again."""
    # JSON, not "a:b:c": keys and ISO times both hold colons.
    parts = ["edge", entity.model, key, valid_from, known_from_seq] + ([scope] if scope else [])
    return str(uuid.uuid5(NAMESPACE, json.dumps(parts)))


def state_name(entity: Entity) -> str:
    return f"{entity.name.upper()}_STATE"


class TimelineStore(Store):
    wants_versions = True

    def __init__(self, driver: GraphDriver, embedder: Embedder, catalog: Catalog, generation: int = 0) -> None:
        self.driver = driver
        self.generation = generation
        self.name = sync_name("timeline", generation)
        self.group = group_of(generation)
        # Generations of one Neo4j database share it: their uuids differ (on FalkorDB each has a
        # graph of its own, and a copied one keeps its source's uuids, which its sync finds again).
        self.scope = f"{self.group}:" if generation and driver.provider == GraphProvider.NEO4J else ""
        self.conn: Connection | None = None  # the sync's, to read superseded beliefs (begin)
        self.embedder = embedder
        self.writer = writer_for(driver)
        self.relationships = Relationships(catalog)
        # One loop for the store's life: graphiti's async clients are bound to the loop that made them.
        self.loop = asyncio.new_event_loop()

    def _run(self, coroutine: Any) -> Any:
        try:
            return self.loop.run_until_complete(coroutine)
        except (ConnectionError, OSError, redis.ConnectionError, ServiceUnavailable) as exc:
            raise StoreUnavailable(f"cannot reach the timeline's graph server: {scrub(str(exc))}") from None

    def ping(self) -> None:
        self.query("RETURN 1 AS one")

    def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        result = self._run(self.driver.execute_query(cypher, **params))
        return [dict(r) for r in result[0]] if result else []

    def holds(self, entity: Entity) -> bool:
        return holds("timeline", entity)

    def prepare(self, catalog: Catalog) -> None:
        # Replacing an entity's versions finds its edges by key; without an index that is a scan
        # of every timeline edge per batch.
        if self.driver.provider == GraphProvider.NEO4J:
            self._run(self.driver.build_indices_and_constraints())
            self.query("CREATE INDEX hubs_timeline_entity_key IF NOT EXISTS FOR ()-[e:RELATES_TO]-() ON (e.entity_key)")
        else:
            self._prepare_falkordb()

    def _prepare_falkordb(self) -> None:
        """Graphiti's indexes less those FalkorDB answers wrongly through (hubs.sync.graph.
        falkordb_indexes): none on an edge property but the sync's entity_key, none on a time;
        taken away from graphs made before too. Node id 0 stays off every edge."""
        provider = GraphProvider.FALKORDB
        # graphiti-core's own statements, less its edge RANGE indexes: re-running the multi-property
        # statement would build them all again (FalkorDB refuses it only while one of them exists)
        statements = [s for s in get_range_indices(provider) if "()-[" not in s] + get_fulltext_indices(provider)
        statements.append("CREATE INDEX FOR ()-[e:RELATES_TO]-() ON (e.entity_key)")
        for statement in statements:  # graphiti's driver swallows "already indexed"
            self._run(self.driver.execute_query(statement))
        for index in range_indexes(self._rows):
            if (index.edge and index.prop != "entity_key") or (not index.edge and index.prop in TIME_PROPERTIES):
                self._rows(index.drop_statement(), {})
        reserve_node_zero(self._rows)

    def _rows(self, cypher: str, params: dict[str, Any]) -> list[list[Any]]:
        return [list(row.values()) for row in self.query(cypher, **params)]

    def begin(self, conn: Connection) -> None:
        self.conn = conn

    def extra_columns(self, entity: Entity) -> dict[str, str]:
        return known_since(entity)

    def _versions(self, entity: Entity, change: Change) -> list[dict[str, Any]]:
        return [current(entity, v) for v in (change.versions if versioned(entity) else [change.row])]

    def _superseded(self, entity: Entity, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
        if self.conn is None:
            raise RuntimeError("the timeline writes superseded beliefs from the sync's connection: call begin first")
        return superseded(self.conn, entity, keys)

    def _edge(self, entity: Entity, key: str, version: dict[str, Any], nodes: dict[str, EntityNode]) -> EntityEdge:
        facts = {f: normalize(version.get(f)) for f in entity.timeline_facts}
        label = entity.label
        projection = entity.projection
        if projection is not None:
            edge = self.relationships.indirect(entity, key, version)
            ends = next(e for e in edge if e.type == projection.type)
            source = self._node(nodes, ends.from_label, ends.from_key)
            target = self._node(nodes, ends.to_label, ends.to_key)
            name = projection.type
            fact = f"{source.name} {name} {target.name}"
        else:
            source = target = self._node(nodes, label, key)
            name = state_name(entity)
            fact = f"{label} {key}"
        described = ", ".join(f"{k}={v}" for k, v in facts.items() if v is not None)
        valid_from = normalize(version["valid_from"])
        from_seq, known_from, to_seq, known_to = (version[k] for k in KNOWN)
        return EntityEdge(
            uuid=edge_uuid(entity, key, valid_from, from_seq, self.scope),
            group_id=self.group,
            source_node_uuid=source.uuid,
            target_node_uuid=target.uuid,
            # a row recorded before transaction time was kept: believed since before anything (as
            # history.py reads a NULL known_from)
            created_at=_utc(known_from or EARLIEST),
            expired_at=_utc(known_to),
            name=name,
            fact=f"{fact} ({described})" if described else fact,
            episodes=[],
            # FalkorDB keeps these as ISO text and compares them as text: in the session's time
            # zone (whatever PostgreSQL's is) offsets would differ and the order would be wrong.
            valid_at=_utc(version["valid_from"]),
            invalid_at=_utc(version.get("valid_to")),
            attributes={
                "entity": entity.model,
                "entity_key": key,
                # the landing sequences of created_at / expired_at, for questions asked by sequence
                **{k: v for k, v in (("known_from_seq", from_seq), ("known_to_seq", to_seq)) if v is not None},
                **{f"fact_{k}": v for k, v in facts.items() if v is not None and not isinstance(v, list)},
            },
        )

    def _node(self, nodes: dict[str, EntityNode], label: str, key: str) -> EntityNode:
        uid = node_uuid(label, key, self.scope)
        if uid not in nodes:
            # Only Graphiti's own label: on Neo4j the replica's labels (Tractor, ...) live in the same database.
            nodes[uid] = EntityNode(
                uuid=uid,
                name=f"{label} {key}",
                group_id=self.group,
                labels=[],
                attributes={"entity_label": label, "entity_key": key},
            )
        return nodes[uid]

    def upsert(self, entity: Entity, changes: list[Change]) -> None:
        keys = [c.key for c in changes]
        earlier = self._superseded(entity, keys)
        self._write(entity, {c.key: self._versions(entity, c) + earlier.get(c.key, []) for c in changes})

    def _write(self, entity: Entity, beliefs: dict[str, list[dict[str, Any]]]) -> None:
        """Make these keys' edges exactly their beliefs: each saved by its uuid (a belief
        superseded since gets its expired_at), then any other edge of the keys removed."""
        nodes: dict[str, EntityNode] = {}
        edges = [self._edge(entity, key, v, nodes) for key, versions in beliefs.items() for v in versions]
        if edges:
            self._save(nodes, edges)
        failpoint("sync.timeline.saved")
        self._prune(entity, list(beliefs), edges)

    def _save(self, nodes: dict[str, EntityNode], edges: list[EntityEdge]) -> None:
        for node, vector in zip(nodes.values(), self.embedder.embed([n.name for n in nodes.values()]), strict=True):
            node.name_embedding = vector
        for edge, vector in zip(edges, self.embedder.embed([e.fact for e in edges]), strict=True):
            edge.fact_embedding = vector
        node_records = [node_record(n) for n in nodes.values()]
        edge_records = [edge_record(e) for e in edges]
        for start in range(0, len(node_records), BATCH):
            self._run(self.writer.save_nodes(node_records[start : start + BATCH]))
        for start in range(0, len(edge_records), BATCH):
            self._run(self.writer.save_edges(edge_records[start : start + BATCH]))
        self._after_writes()

    def _after_writes(self) -> None:
        if self.driver.provider == GraphProvider.FALKORDB:
            self._run(_rewrite_falkordb_log(self.driver))

    def _prune(self, entity: Entity, keys: list[str], edges: list[EntityEdge]) -> None:
        """Remove the keys' edges that are no belief PostgreSQL holds (written by an older sync)."""
        kept: dict[str, list[str]] = {}
        for edge in edges:
            kept.setdefault(edge.attributes["entity_key"], []).append(edge.uuid)
        for start in range(0, len(keys), BATCH):
            part = keys[start : start + BATCH]
            self.query(
                "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group AND e.entity = $entity "
                "AND e.entity_key IN $keys AND NOT e.uuid IN $kept DELETE e",
                group=self.group,
                entity=entity.model,
                keys=part,
                kept=[u for k in part for u in kept.get(k, [])],
            )

    def delete(self, entity: Entity, keys: list[str]) -> None:
        """A deleted key's beliefs stay, expired when the delete landed (hubs_meta.superseded
        keeps them so, and history.py answers from them); a key re-landed since is written whole
        by the upsert that follows."""
        earlier = self._superseded(entity, keys)
        self._write(entity, {key: earlier.get(key, []) for key in keys})
        # A node left with no edge at all (a key never believed with a version) goes.
        uuids = [node_uuid(entity.label, k, self.scope) for k in keys]
        for start in range(0, len(uuids), BATCH):
            self.query(
                "MATCH (n:Entity) WHERE n.uuid IN $uuids AND NOT (n)--() DELETE n", uuids=uuids[start : start + BATCH]
            )

    def clear(self, catalog: Catalog) -> None:
        # The edges first, then the nodes: 10,000 nodes with DETACH DELETE would hold all their
        # edges in one transaction (a tractor's node holds one per version of every row that
        # cites it), which passes Neo4j's transaction memory limit on a large timeline.
        self._delete_until_none_left(
            "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group WITH e LIMIT 10000 DELETE e RETURN count(*) AS n",
            group=self.group,
        )
        self._delete_until_none_left(
            "MATCH (n:Entity {group_id: $group}) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS n",
            group=self.group,
        )

    def clear_entities(self, catalog: Catalog, entities: list[Entity]) -> None:
        # Every edge names its entity; a node is shared, and goes once no edge is left.
        for entity in entities:
            self._delete_until_none_left(
                "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group AND e.entity = $entity "
                "WITH e LIMIT 10000 DELETE e RETURN count(*) AS n",
                group=self.group,
                entity=entity.model,
            )
        # A node another entity's edges still touch stays (a driver's node, with the tractors it
        # DROVE); the others go, as a rebuild would not make them.
        self._delete_until_none_left(
            "MATCH (n:Entity {group_id: $group}) WHERE NOT (n)--() WITH n LIMIT 10000 DELETE n RETURN count(*) AS n",
            group=self.group,
        )

    def _delete_until_none_left(self, statement: str, **params: Any) -> None:
        """Run a `... LIMIT n DELETE ... RETURN count(*) AS n` until it deletes nothing: bounded
        transactions, however much there is."""
        while self.query(statement, **params)[0]["n"]:
            pass

    def as_of(self, edge: str, instant: str) -> str:
        """A Cypher condition: timeline edge `edge` held at `instant` as believed now (see valid_at)."""
        return f"{valid_at(self.driver.provider, edge, instant)} AND {known_at(self.driver.provider, edge, None)}"

    def edges(self, entity: Entity) -> list[dict[str, Any]]:
        """Every timeline edge of an entity: key, valid_at, invalid_at, created_at, expired_at (ISO
        text), for checks."""
        rows = self.query(
            "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group AND e.entity = $entity "
            "RETURN e.entity_key AS key, e.valid_at AS valid_at, e.invalid_at AS invalid_at, "
            "e.created_at AS created_at, e.expired_at AS expired_at, e.uuid AS uuid",
            group=self.group,
            entity=entity.model,
        )
        return [{**r, **{t: iso_text(r[t]) for t in TIME_PROPERTIES}} for r in rows]

    def size(self, catalog: Catalog) -> dict[str, int]:
        [edges] = self.query(
            "MATCH ()-[e:RELATES_TO]->() WHERE e.group_id = $group RETURN count(e) AS n", group=self.group
        )
        [nodes] = self.query("MATCH (n:Entity {group_id: $group}) RETURN count(n) AS n", group=self.group)
        return {"edges": int(edges["n"]), "entity nodes": int(nodes["n"])}

    def close(self) -> None:
        self._run(self.driver.close())
        self.loop.close()


def _instant(provider: GraphProvider, instant: str) -> str:
    # graphiti-core's datetimes are DateTime values on Neo4j (compare instants, not text) and ISO
    # text on FalkorDB, in UTC there (the sync writes them so), which orders as time does; the
    # timeline keeps no FalkorDB index on them (prepare), whose range scans answer '<' wrongly.
    return f"datetime({instant})" if provider == GraphProvider.NEO4J else instant


def valid_at(provider: GraphProvider, edge: str, instant: str) -> str:
    """A Cypher condition: timeline edge `edge` true in the world at `instant`, a Cypher expression
    (a parameter, say) giving ISO-8601 UTC text. valid_at is inclusive, invalid_at exclusive."""
    at = _instant(provider, instant)
    return f"{edge}.valid_at <= {at} AND ({edge}.invalid_at IS NULL OR {edge}.invalid_at > {at})"


def known_at(provider: GraphProvider, edge: str, instant: str | None, by_sequence: bool = False) -> str:
    """A Cypher condition: edge `edge` believed at `instant` (ISO-8601 UTC text, or with
    `by_sequence` a landing sequence), as history.py reads known_from (inclusive) and known_to
    (exclusive); None: believed now (not expired)."""
    if instant is None:
        return f"{edge}.expired_at IS NULL"
    if by_sequence:
        # a belief recorded before sequences were kept began before any (history.py: coalesce 0)
        return (
            f"coalesce({edge}.known_from_seq, 0) <= {instant} "
            f"AND ({edge}.known_to_seq IS NULL OR {edge}.known_to_seq > {instant})"
        )
    at = _instant(provider, instant)
    return f"{edge}.created_at <= {at} AND ({edge}.expired_at IS NULL OR {edge}.expired_at > {at})"


async def _rewrite_falkordb_log(driver: GraphDriver) -> None:
    """The timeline shares the graph server: keep its append-only log short too (see falkordb.py)."""
    connection = driver.client.connection
    with contextlib.suppress(redis.ResponseError):
        if log_needs_rewrite(await connection.info("persistence")):
            await connection.bgrewriteaof()


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def iso_text(value: Any) -> str | None:
    """Timestamps as ISO text, whether the server returned text (FalkorDB) or a DateTime (Neo4j)."""
    if value is None:
        return None
    if hasattr(value, "to_native"):
        value = value.to_native()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return datetime.fromisoformat(str(value)).astimezone(UTC).isoformat()


def open_timeline(settings: Settings, catalog: Catalog, generation: int | None = None) -> TimelineStore:
    """Graphiti's graph on the graph server (see hubs.sync.kinds); pinged, so a server that is
    down is StoreUnavailable here rather than at the first write."""
    from hubs.embeddings import embedder_from_env

    if generation is None:
        generation = resolve(settings, "timeline")
    store = TimelineStore(timeline_driver(settings, generation=generation), embedder_from_env(), catalog, generation)
    store.ping()
    return store
