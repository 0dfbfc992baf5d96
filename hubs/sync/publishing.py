"""Write-audit-publish for every derived store, in one vocabulary (what a migration phase calls):

    n = start(conn, settings, catalog, "graph")       # a new generation, seeded from the published one
    sync(open_store("graph", settings, catalog, n), conn, catalog)   # brought up to date, then changed
    ... the gate reads generation n (open_store(..., n)) ...
    publish(conn, settings, "graph", n)   or   fail(conn, "graph", n, why)
    rollback(conn, settings, "graph")                  # the one published before, in milliseconds
    prune(conn, settings, catalog, "graph")            # the physical copies beyond the last KEEP

The registry is hubs/sync/generations.py; each store's physical side is its own module (graph:
GRAPH.COPY or a label suffix; vectors: a collection per generation; cache: a Redis database
swapped in; timeline: a Graphiti group per generation). The record (store `postgres`, migration
phase 1) is written in place and keeps copies of what it replaced instead (record_generation.py).
"""

from __future__ import annotations

from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog
from hubs.settings import Settings
from hubs.sync import cache_generation, generations, record_generation, timeline_generation, vector_generation
from hubs.sync.graph import generation as graph_generation
from hubs.sync.kinds import kind


def start(conn: Connection, settings: Settings, catalog: Catalog, store: str, note: str | None = None) -> int:
    """A new building generation of the store, holding what its published one holds where the
    store copies cheaply (FalkorDB graph and timeline, vectors), else empty (Neo4j, the cache: a
    sync fills it); its writers open it with open_store(store, ..., generation)."""
    if store == record_generation.STORE:
        return record_generation.begin(conn, catalog, note)
    kind(store)  # a clear error for an unknown store, before anything is recorded
    if store == "cache":
        return cache_generation.begin(conn, settings, note)
    source = generations.published(conn, store)
    number = generations.begin(conn, store, seeded_from=source, note=note)
    if store == "graph":
        graph_generation.seed(conn, settings, source, number)
    elif store == "vectors":
        vector_generation.seed(conn, settings, catalog, source, number)
    else:
        timeline_generation.seed(conn, settings, catalog, source, number)
    return number


def publish(conn: Connection, settings: Settings, store: str, generation: int) -> int:
    """Make a building generation the one every reader reads; the one published before."""
    if store == "cache":
        return cache_generation.publish(conn, settings, generation)
    return generations.publish(conn, store, generation)


def rollback(conn: Connection, settings: Settings, store: str) -> int:
    """Publish again the generation published before; which it is."""
    if store == record_generation.STORE:
        return record_generation.rollback(conn)
    if store == "cache":
        return cache_generation.rollback(conn, settings)
    return generations.rollback(conn, store)


def fail(conn: Connection, store: str, generation: int, reason: str) -> None:
    """The gate said no: the generation is never published (its copy stays for inspection until
    pruned; the record, written in place, is restored to its published generation)."""
    if store == record_generation.STORE:
        record_generation.fail(conn, generation, reason)
    else:
        generations.fail(conn, store, generation, reason)


def prune(
    conn: Connection, settings: Settings, catalog: Catalog, store: str, keep: int = generations.KEEP
) -> list[int]:
    """Drop the physical copies of the generations beyond the newest `keep` (the published one and
    those being built always stay); the generations dropped."""
    doomed = [n for n in generations.droppable(conn, store, keep) if n != 0]
    for number in doomed:
        if store == record_generation.STORE:
            record_generation.drop(conn, number)
        elif store == "graph":
            graph_generation.drop(conn, settings, number)
        elif store == "vectors":
            vector_generation.drop(conn, settings, catalog, number)
        elif store == "cache":
            cache_generation.drop(conn, settings, number)
        else:
            timeline_generation.drop(conn, settings, catalog, number)
        generations.dropped(conn, store, [number])
    return doomed
