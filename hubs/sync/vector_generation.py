"""Generations of the vector store (hubs/sync/generations.py): a collection per generation
(`documents__<slug>`, `documents__<slug>__g2`, ...), seeded by copying the points of another,
vectors included (nothing is embedded again), then synced on its own watermarks."""

from __future__ import annotations

from psycopg2.extensions import connection as Connection
from qdrant_client import models

from hubs.catalog import Catalog
from hubs.settings import Settings
from hubs.sync import state
from hubs.sync.lock import store_writer
from hubs.sync.vectors import VectorStore, open_vectors

STORE = "vectors"
PAGE = 512  # points per scroll page and per upsert


def collections(store: VectorStore, catalog: Catalog) -> list[str]:
    return sorted({store.collection(e) for e in catalog.entities if store.holds(e)})


def copy_collection(store: VectorStore, source: str, target: str) -> int:
    """Every point of collection `source` (vector and payload) into `target`; how many."""
    copied, offset = 0, None
    while True:
        page, offset = store.client.scroll(source, limit=PAGE, offset=offset, with_payload=True, with_vectors=True)
        if page:
            points = [models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in page]
            store.client.upsert(target, points=points)
            copied += len(points)
        if offset is None:
            return copied


def seed(conn: Connection, settings: Settings, catalog: Catalog, source: int, target: int) -> int:
    """Make generation `target` a copy of `source`: its collections' points and its watermarks,
    taken while no sync writes the source (its writer lock). Returns the points copied. One
    client for both (local mode admits one per folder)."""
    origin = open_vectors(settings, catalog, source)
    try:
        copy = VectorStore(origin.client, origin.embedder, target)
        with store_writer(conn, origin.name):
            copy.clear(catalog)  # an earlier attempt's points
            copy.prepare(catalog)
            copied = 0
            for here, there in zip(collections(origin, catalog), collections(copy, catalog), strict=True):
                if origin.client.collection_exists(here):
                    copied += copy_collection(origin, here, there)
            state.ensure(conn)
            state.copy(conn, origin.name, copy.name)
            conn.commit()
        return copied
    finally:
        origin.close()


def drop(conn: Connection, settings: Settings, catalog: Catalog, generation: int) -> None:
    """Remove a generation's collections and watermarks (never generation 0's)."""
    if generation == 0:
        raise ValueError("generation 0 of the vectors is never dropped")
    store = open_vectors(settings, catalog, generation)
    try:
        store.clear(catalog)
        state.reset(conn, store.name)
        conn.commit()
    finally:
        store.close()
