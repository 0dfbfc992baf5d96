"""What a derived store holds, as one comparable value per store.

The fault tests' oracle: after any crash and recovery, each store must hold exactly what a fresh
rebuild from PostgreSQL puts there. A fingerprint leaves out only what legitimately differs
between two correct syncs (the time a node was first written, embedding floats, TTLs).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import Counter
from typing import Any

from psycopg2.extensions import connection as Connection

from hubs.catalog import load_catalog
from hubs.sync.cache import GENERATIONS, INDEX_PREFIX, REALTIME_TTL, RECORD_PREFIX, SYNCED_MARKER, key_glob


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def graph(store: Any, conn: Connection) -> dict[str, Any]:
    """Nodes and relationships of the replica (not Graphiti's, where they share a database), and
    the relationships waiting in PostgreSQL for a node."""
    dialect = store.dialect
    nodes: Counter = Counter()
    for labels, props in dialect.run("MATCH (n) RETURN labels(n), properties(n)"):
        if not set(labels) & dialect.foreign_labels:
            nodes[(tuple(sorted(labels)), _canonical(dict(props)))] += 1
    edges: Counter = Counter()
    for rel_type, start, end, props in dialect.run("MATCH (a)-[r]->(b) RETURN type(r), a.key, b.key, properties(r)"):
        if rel_type not in dialect.foreign_types:
            edges[(rel_type, start, end, _canonical(dict(props)))] += 1
    waiting: Counter = Counter()
    with conn.cursor() as cur:
        cur.execute(
            "select owner, rel_type, from_label, from_key, to_label, to_property, to_key, props::text"
            " from hubs_meta.graph_pending_edges"
        )
        waiting.update(cur.fetchall())
    conn.commit()
    return {"nodes": nodes, "relationships": edges, "waiting": waiting}


def cache(store: Any, conn: Connection) -> dict[str, Any]:
    """Every key with its value (index sets as sets), TTLs left out. Real-time keys (60 s) are
    left out too: they expire between two reads unless the sensor keeps them (not in tests); the
    index sets still name them. So are Recall's read-through records and the count of their
    invalidations: readers fill the one, every sync moves the other (X3 checks the records)."""
    realtime = [
        re.compile(fnmatch.translate(key_glob(entry)))
        for entity in load_catalog().entities
        for entry in entity.cache
        if entry.ttl_seconds <= REALTIME_TTL
    ]
    client = store.client
    held: dict[str, Any] = {}
    for key in client.scan_iter(count=1000):
        name = key.decode()
        if name in (SYNCED_MARKER, GENERATIONS) or name.startswith(RECORD_PREFIX):
            continue
        if any(pattern.match(name) for pattern in realtime):
            continue
        if name.startswith(INDEX_PREFIX):
            held[name] = sorted(m.decode() for m in client.smembers(key))
        else:
            held[name] = client.get(key).decode()
    return held


def vectors(store: Any, conn: Connection) -> dict[str, Any]:
    """Every point's id and payload, per collection."""
    return {
        c.name: sorted((pid, _canonical(payload)) for pid, payload in store.scroll(c.name).items())
        for c in store.client.get_collections().collections
    }


_EDGE_FIELDS = (
    "e.uuid AS uuid, e.name AS name, e.fact AS fact, e.entity AS entity, e.entity_key AS key, "
    "e.valid_at AS valid_at, e.invalid_at AS invalid_at, e.created_at AS created_at, e.expired_at AS expired_at, "
    "a.uuid AS source, b.uuid AS target"
)


def timeline(store: Any, conn: Connection) -> dict[str, Any]:
    """The timeline's edges (identity, ends, fact, both time axes) and its nodes."""
    from hubs.sync.timeline import GROUP

    edges = store.query(f"MATCH (a)-[e:RELATES_TO]->(b) WHERE e.group_id = $group RETURN {_EDGE_FIELDS}", group=GROUP)
    nodes = store.query("MATCH (n:Entity {group_id: $group}) RETURN n.uuid AS uuid, n.name AS name", group=GROUP)
    return {
        "edges": sorted(_canonical({k: str(v) if v is not None else None for k, v in e.items()}) for e in edges),
        "nodes": sorted(_canonical(n) for n in nodes),
    }


OF = {"graph": graph, "cache": cache, "vectors": vectors, "timeline": timeline}


def difference(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A short account of how two fingerprints of a store differ ('' when equal)."""
    lines = []
    for part in sorted(set(before) | set(after)):
        one, two = before.get(part), after.get(part)
        if one == two:
            continue
        if isinstance(one, Counter) and isinstance(two, Counter):
            missing, extra = two - one, one - two
            lines.append(
                f"{part}: {sum(missing.values())} missing (e.g. {list(missing)[:3]}), "
                f"{sum(extra.values())} not in a rebuild (e.g. {list(extra)[:3]})"
            )
        else:
            lines.append(f"{part}: differs ({len(one or [])} here, {len(two or [])} in a rebuild)")
    return "; ".join(lines)
