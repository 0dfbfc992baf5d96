"""Generations of the graph replica (hubs/sync/generations.py): on FalkorDB a graph per
generation (`hubs`, `hubs__g2`, ...), seeded by GRAPH.COPY of another and then synced on its own
(its own watermarks and pending relationships, copied with it); on Neo4j a label and type suffix
per generation in the one database (hubs/sync/graph/neo4j.py), filled by its own sync."""

from __future__ import annotations

from psycopg2.extensions import connection as Connection

from hubs.settings import Settings
from hubs.sync import state
from hubs.sync.connections import graph_dialect
from hubs.sync.generations import physical, sync_name
from hubs.sync.graph import pending
from hubs.sync.graph.falkordb import GRAPH
from hubs.sync.lock import store_writer

STORE = "graph"


def seed(conn: Connection, settings: Settings, source: int, target: int) -> bool:
    """Make generation `target` a copy of `source` where the server copies a graph (FalkorDB):
    the graph, its watermarks and the relationships waiting for a node, taken while no sync
    writes the source (its writer lock), so the copy holds exactly what the copied watermarks
    say. Elsewhere (Neo4j) the target starts empty, without watermarks: its first sync fills it
    whole, and so does a copy of a graph never written (FalkorDB has no key for it). Whether it
    was copied."""
    with store_writer(conn, sync_name(STORE, source)):
        leftover = graph_dialect(settings, generation=target)
        try:
            leftover.drop()  # an earlier attempt's (GRAPH.COPY makes a new graph only)
        finally:
            leftover.close()
        if settings.neo4j_uri:
            return False
        dialect = graph_dialect(settings, generation=source)
        try:
            copied = dialect.copy_to(physical(GRAPH, target))
        finally:
            dialect.close()
        if not copied:
            return False
        state.ensure(conn)
        pending.copy(conn, source, target)
        state.copy(conn, sync_name(STORE, source), sync_name(STORE, target))
        conn.commit()
    return True


def drop(conn: Connection, settings: Settings, generation: int) -> None:
    """Remove a generation's graph and bookkeeping (never generation 0's: the registry keeps it
    as the store before generations)."""
    if generation == 0:
        raise ValueError("generation 0 of the graph is never dropped")
    dialect = graph_dialect(settings, generation=generation)
    try:
        dialect.drop()
    finally:
        dialect.close()
    state.reset(conn, sync_name(STORE, generation))
    conn.commit()
    pending.drop(conn, generation)
