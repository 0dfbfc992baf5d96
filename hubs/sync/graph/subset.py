"""Emptying some entities of the replica, for a rebuild of just those (`full` with a subset).

Their nodes go, and with them every relationship that touches them; the relationships the
cleared rows own come back when the rows are written again, but those owned by rows of other
entities (an insight's EVIDENCED_BY to a load, a filing's LISTS to a tractor by VIN, a party's
MERGED_INTO another) would not: their owners are not re-read. So they are parked first in
hubs_meta.graph_pending_edges, where a relationship whose end is missing already waits, and are
written again as the nodes return (GraphStore._write_waiting), as a rebuild of everything would
write them. They are committed there before anything leaves the graph, so a sync that dies
midway leaves each relationship in the graph, in PostgreSQL, or in both (writing a waiting
relationship first removes the copy the graph still has).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg2.extensions import connection as Connection

from hubs.catalog import Entity
from hubs.sync.graph import pending
from hubs.sync.graph.edges import Edge

if TYPE_CHECKING:
    from hubs.sync.graph.store import GraphStore

BATCH = 2000


def _owner_label(props: dict[str, Any]) -> str:
    return str(props.get("_owner", "")).split(":", 1)[0]


def others_edges(store: GraphStore, labels: set[str]) -> list[Edge]:
    """Relationships owned by rows of other entities that touch nodes of these labels, as they
    wait in PostgreSQL for a missing node (each once, also between two cleared nodes)."""
    dialect, relationships = store.dialect, store.relationships
    lookups = sorted({p for props in store.lookups.values() for p in props})
    ends = "".join(f", b.{p}" for p in lookups)
    found: list[Edge] = []
    for label in sorted(labels):
        # Incoming: every edge that ends at a cleared node (its start may be cleared too).
        # Outgoing: those that end elsewhere (an edge between two cleared nodes is found once).
        for pattern in (f"(a)-[r]->(b:{label})", f"(a:{label})-[r]->(b)"):
            rows = dialect.run(
                f"MATCH {pattern} RETURN type(r), labels(a), labels(b), a.key, properties(r), b.key{ends}"
            )
            for rel_type, start_labels, end_labels, start_key, props, end_key, *lookup_values in rows:
                props = dict(props)
                start = _replica_label(start_labels, dialect.foreign_labels)
                end = _replica_label(end_labels, dialect.foreign_labels)
                if _owner_label(props) in labels or (pattern.startswith("(a:") and end in labels):
                    continue  # re-derived from the cleared rows / found as incoming
                prop = relationships.target_property(rel_type, start, end)
                to_key = end_key if prop == "key" else dict(zip(lookups, lookup_values, strict=True))[prop]
                found.append(Edge(rel_type, start, str(start_key), end, str(to_key), props, prop))
    return found


def _replica_label(labels: list[str], foreign: frozenset[str]) -> str:
    return next((x for x in labels if x not in foreign), labels[0])


def clear_entities(store: GraphStore, conn: Connection, entities: list[Entity]) -> None:
    """Remove these entities' nodes and the relationships their rows own; park the others'
    relationships to them in PostgreSQL (committed before the graph is touched)."""
    labels = {e.label for e in entities}
    parked = others_edges(store, labels)
    with conn.cursor() as cur:
        # What the cleared rows waited for: they are read again and wait again if they must.
        cur.execute(
            f"delete from {pending.table(store.generation)} where split_part(owner, ':', 1) = any(%s)",
            (sorted(labels),),
        )
    pending.add_missing(conn, parked, store.generation)
    conn.commit()
    for entity in entities:
        label = entity.label
        keys = [str(row[0]) for row in store.dialect.run(f"MATCH (n:{label}) RETURN n.key")]
        for start in range(0, len(keys), BATCH):
            # Also the owned relationships that do not touch the row's node (DROVE, OWNS ...).
            store.drop_owned_edges(entity, keys[start : start + BATCH])
        conn.commit()
        store.dialect.delete_label(label)
    store.dialect.after_writes()
