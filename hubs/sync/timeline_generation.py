"""Generations of the Graphiti timeline (hubs/sync/generations.py): a group id per generation
(`hubs_timeline`, `hubs_timeline__g2`, ...). On FalkorDB Graphiti reads a group from the graph of
that name, so a generation is a graph, seeded by GRAPH.COPY of another with its group ids
rewritten; on Neo4j the groups share the one database (their uuids differ: TimelineStore.scope)
and a generation starts empty, filled by its first sync."""

from __future__ import annotations

from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog
from hubs.settings import Settings
from hubs.sync import state
from hubs.sync.generations import sync_name
from hubs.sync.graph.falkordb import FalkorDialect
from hubs.sync.lock import store_writer
from hubs.sync.timeline import group_of, open_timeline

STORE = "timeline"


def _falkordb(settings: Settings, generation: int) -> FalkorDialect:
    return FalkorDialect(settings.effective_falkordb_url, group_of(generation))


def seed(conn: Connection, settings: Settings, catalog: Catalog, source: int, target: int) -> bool:
    """Make generation `target` a copy of `source` on FalkorDB (the graph, its group ids and its
    watermarks, taken while no sync writes the source); on Neo4j leave it empty. Whether copied."""
    origin = open_timeline(settings, catalog, source)
    try:
        with store_writer(conn, origin.name):
            if settings.neo4j_uri:
                leftover = open_timeline(settings, catalog, target)
                try:
                    leftover.clear(catalog)  # an earlier attempt's
                finally:
                    leftover.close()
                return False
            copy = _falkordb(settings, target)
            try:
                copy.drop()  # an earlier attempt's: GRAPH.COPY makes a new graph only
                original = _falkordb(settings, source)
                try:
                    copied = original.copy_to(copy.graph_name)
                finally:
                    original.close()
                if not copied:  # a timeline never written: the new one starts empty, its sync fills it
                    return False
                regroup = "MATCH {} WHERE n.group_id IS NOT NULL SET n.group_id = $group"
                for pattern in ("(n)", "()-[n]->()"):  # Graphiti finds a group in the graph of its name
                    copy.run(regroup.format(pattern), {"group": copy.graph_name})
            finally:
                copy.close()
            state.ensure(conn)
            state.copy(conn, origin.name, sync_name(STORE, target))
            conn.commit()
            return True
    finally:
        origin.close()


def drop(conn: Connection, settings: Settings, catalog: Catalog, generation: int) -> None:
    """Remove a generation's timeline and watermarks (never generation 0's)."""
    if generation == 0:
        raise ValueError("generation 0 of the timeline is never dropped")
    store = open_timeline(settings, catalog, generation)
    try:
        store.clear(catalog)
        name = store.name
    finally:
        store.close()
    if not settings.neo4j_uri:
        graph = _falkordb(settings, generation)
        try:
            graph.drop()
        finally:
            graph.close()
    state.reset(conn, name)
    conn.commit()
