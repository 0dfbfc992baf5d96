"""Semantic search: the query embedded by the embedder the vector sync uses, asked of the Qdrant
collections the catalog declares, with payload filters (entity, hub, status, time).

Qdrant is a server when HUBS_QDRANT_URL is set: one client, asked per question. Otherwise it is
qdrant-client's local mode on disk, which locks its folder to one process while open, and a
sync (Dagster, the CLI) must be able to take it at any time. So Recall never keeps it: it opens
the folder (a few short tries while a sync holds it), lets local mode read it into memory, and
lets go of the lock at once (a read-only snapshot; it never writes). The snapshot stands for the
vectors as of the last sync the watermarks recorded; when they record a newer one it is read
again. While a sync runs PostgreSQL is ahead of the watermarks, so those questions are answered
by keyword alone (degraded) rather than from a snapshot being rewritten.

Local mode would then answer each question by checking the payload filter point by point in
Python (hundreds of milliseconds at scale 0.2), so the snapshot is read once into an exact numpy
index per collection (exact_index.py: the same points, scores and order) and the local client
closed; `exact=False` keeps asking local mode itself (the benchmark's baseline). A server keeps
its own indexes and is asked as it is.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from qdrant_client import QdrantClient, models

from hubs.catalog import Entity
from hubs.embeddings import Embedder, embedder_from_env
from hubs.recall.exact_index import ExactIndex, rank_key
from hubs.recall.keyword import STATUS, Filters
from hubs.recall.model import why_failed
from hubs.settings import Settings
from hubs.sync.generations import physical
from hubs.sync.vectors import TIME_FIELD, collection_name, epoch, open_client

OPEN_TRIES = 3
OPEN_PAUSE_SECONDS = 0.1
SERVER_TIMEOUT_SECONDS = 2
#: the payload fields `payload_filter` asks: the columns the exact index keeps
KEYWORD_FIELDS = ("entity", "hub", STATUS)
NUMBER_FIELDS = (TIME_FIELD,)


class VectorsUnavailable(Exception):
    """Why Qdrant cannot answer now (the question is answered by keyword instead)."""


@dataclass(frozen=True)
class SemanticHit:
    entity: Entity
    key: str
    score: float  # cosine similarity of the query and the point


def _release_lock(client: QdrantClient) -> None:
    """Local mode, read: close its SQLite files and let go of the folder's lock, keeping the
    collections it read into memory (qdrant-client internals, as hubs.sync.vectors'
    tune_local_storage; without them the snapshot cannot be kept)."""
    local = getattr(client, "_client", None)
    lock = getattr(local, "_flock_file", None)
    collections = getattr(local, "collections", None)
    if lock is None or collections is None:
        client.close()
        raise VectorsUnavailable("this qdrant-client cannot read its local store without holding it")
    import portalocker

    for collection in collections.values():
        collection.close()
    portalocker.unlock(lock)
    lock.close()
    local._flock_file = None


@dataclass(frozen=True)
class LocalSnapshot:
    """The local store as read at one sync: an exact index per physical collection."""

    indexes: dict[str, ExactIndex]

    @property
    def nbytes(self) -> int:
        return sum(i.nbytes for i in self.indexes.values())


def read_indexes(client: QdrantClient, wanted: set[str] | None = None) -> LocalSnapshot:
    """Every collection of the (local) client (of those `wanted`) as an exact index."""
    names = [c.name for c in client.get_collections().collections if wanted is None or c.name in wanted]
    return LocalSnapshot({n: ExactIndex.read(client, n, KEYWORD_FIELDS, NUMBER_FIELDS) for n in names})


#: what answers a question: a Qdrant server or local-mode client, or the local store's exact indexes
Source = QdrantClient | LocalSnapshot


class VectorReader:
    """Qdrant as Recall reads it, with the embedder the vector sync writes with."""

    def __init__(self, settings: Settings, exact: bool = True) -> None:
        self.settings = settings
        self.exact = exact  # local mode: answer from exact indexes (False: local mode's own search)
        self.embedder: Embedder | None = None
        self.embedder_error = ""
        try:
            self.embedder = embedder_from_env()
        except Exception as exc:  # a misconfigured embedder: searches go by keyword and say why
            self.embedder_error = f"the embedder cannot be made ({why_failed(exc)})"
        self._whole: dict[str, int] = {}  # collection (generation 0's name) -> how many entities feed it
        self._entities: list[Entity] = []  # those with vectors
        self._client: Source | None = None
        self._mark: tuple[str | None, int] | None = None  # the local snapshot's last sync and generation
        self._lock = threading.Lock()

    @property
    def store_name(self) -> str:
        """The vector store's name in hubs_meta.sync_state (its embedder's slug in it)."""
        return f"vectors:{self.embedder.slug}" if self.embedder else "vectors"

    def collection(self, entity: Entity, generation: int = 0) -> str:
        return collection_name(entity, self.embedder.slug, generation)

    def know(self, catalog_entities: list[Entity]) -> None:
        """How many entities feed each collection (a question asking them all needs no entity filter)."""
        self._whole = {}
        self._entities = [e for e in catalog_entities if e.vectors]
        for entity in catalog_entities:
            if entity.vectors and self.embedder:
                name = self.collection(entity)
                self._whole[name] = self._whole.get(name, 0) + 1

    def client(self, last_sync: str | None, generation: int = 0) -> Source:
        """A client that answers for the vectors of the sync at `last_sync`, in the store's
        `generation` (VectorsUnavailable when it cannot be had now)."""
        with self._lock:
            if self.settings.qdrant_url:
                if self._client is None:
                    try:
                        self._client = QdrantClient(
                            url=self.settings.qdrant_url, timeout=SERVER_TIMEOUT_SECONDS, check_compatibility=False
                        )
                    except Exception as exc:
                        raise VectorsUnavailable(f"Qdrant is unreachable ({why_failed(exc)})") from None
                return self._client
            if self._client is None or self._mark != (last_sync, generation):
                self.drop_locked()
                self._client, self._mark = self._snapshot(generation), (last_sync, generation)
            return self._client

    def _snapshot(self, generation: int) -> Source:
        path = self.settings.home / "qdrant"
        if not path.exists():
            raise VectorsUnavailable(f"Qdrant's local store {path} does not exist: run `hubs sync vectors`")
        for attempt in range(OPEN_TRIES):
            try:
                client = open_client(None, path)
                break
            except Exception as exc:  # the folder's lock is held: by a sync, most likely
                if attempt == OPEN_TRIES - 1:
                    raise VectorsUnavailable(
                        f"Qdrant's local store is held by another process (a sync?): {why_failed(exc)}"
                    ) from None
                time.sleep(OPEN_PAUSE_SECONDS)
        _release_lock(client)
        if not self.exact:
            return client
        try:
            wanted = {self.collection(e, generation) for e in self._entities} if self._entities else None
            return read_indexes(client, wanted)  # one generation's: the others' points are not read
        finally:
            client.close()  # the indexes hold all a question needs: local mode's copy is let go

    def drop(self) -> None:
        with self._lock:
            self.drop_locked()

    def drop_locked(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):  # closing a broken client: nothing left to release
                self._client.close()
        self._client, self._mark = None, None

    def search(
        self,
        client: Source,
        entities: list[Entity],
        text: str,
        filters: Filters,
        hubs: tuple[str, ...],
        k: int,
        generation: int = 0,
    ) -> list[SemanticHit]:
        """The k points nearest the text among the entities' (best first), in the store's `generation`."""
        if self.embedder is None:
            raise VectorsUnavailable(self.embedder_error)
        vector = self.embedder.embed_one(text)
        by_model = {e.model: e for e in entities}
        hits: list[SemanticHit] = []
        for name, members in self._collections(entities).items():
            flt = payload_filter(members, self._whole[name] == len(members), filters, hubs)
            for model, key, score in nearest(client, physical(name, generation), vector, flt, k):
                entity = by_model.get(model)
                if entity is not None:
                    hits.append(SemanticHit(entity, key, score))
        hits.sort(key=lambda h: rank_key(h.score, h.entity.model, h.key))  # scores a noise apart are ties
        return hits[:k]

    def _collections(self, entities: list[Entity]) -> dict[str, list[Entity]]:
        found: dict[str, list[Entity]] = {}
        for entity in entities:
            found.setdefault(self.collection(entity), []).append(entity)
        return found


def nearest(
    source: Source, collection: str, vector: list[float], flt: models.Filter | None, k: int
) -> list[tuple[str, str, float]]:
    """The k points of the collection nearest the vector that meet the filter, best first, as
    (entity, key, score); none when the collection does not exist."""
    if isinstance(source, LocalSnapshot):
        index = source.indexes.get(collection)
        return [] if index is None else [(p.entity, p.key, p.score) for p in index.search(vector, flt, k)]
    if not source.collection_exists(collection):
        return []
    found = source.query_points(collection, query=vector, query_filter=flt, limit=k, with_payload=["entity", "key"])
    points: list[tuple[str, str, float]] = []
    for point in found.points:
        payload: dict[str, Any] = point.payload or {}
        points.append((str(payload.get("entity", "")), str(payload.get("key", "")), float(point.score)))
    return points


def payload_filter(
    entities: list[Entity], whole: bool, filters: Filters, hubs: tuple[str, ...]
) -> models.Filter | None:
    """The payload conditions; none on the entity when every entity of the collection is asked
    (local mode checks each condition point by point, in Python)."""
    must: list[models.Condition] = []
    if not whole:
        must.append(models.FieldCondition(key="entity", match=models.MatchAny(any=sorted(e.model for e in entities))))
    if hubs:
        must.append(models.FieldCondition(key="hub", match=models.MatchAny(any=list(hubs))))
    if filters.statuses:
        must.append(models.FieldCondition(key=STATUS, match=models.MatchAny(any=list(filters.statuses))))
    if filters.timed:
        span = models.Range(
            gte=epoch(filters.time_from) if filters.time_from else None,
            lte=epoch(filters.time_to) if filters.time_to else None,
        )
        must.append(models.FieldCondition(key=TIME_FIELD, range=span))
    return models.Filter(must=must) if must else None
