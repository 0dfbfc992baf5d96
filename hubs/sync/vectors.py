"""Qdrant: semantic search over the text the hubs hold.

Entities with meta.hubs.vectors feed a collection (documents, knowledge_items, insights). A
point's id is uuid5 of "<Label>:<key>", so a row has exactly one point; its payload carries
the hub, entity, key, the declared payload columns and a content hash of the embedded text,
and, for an entity that declares its time (meta.hubs.vectors.time), that time as epoch seconds
(`time_epoch`: a number, which Qdrant range-filters in local mode and on a server alike).
A row whose text did not change is not embedded again (its payload is still refreshed). The
physical collection is "<collection>__<embedder slug>" with the model and dimension in its
name: switching model fills fresh collections (and, the store's name including the slug, its
sync starts from scratch) instead of failing on a dimension mismatch.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from hubs.catalog import Catalog, Entity
from hubs.embeddings import Embedder
from hubs.settings import Settings
from hubs.sync.engine import Store, StoreUnavailable
from hubs.sync.feed import Change
from hubs.sync.generations import physical, resolve, sync_name
from hubs.sync.kinds import holds
from hubs.sync.records import normalize

POINT_NAMESPACE = uuid.UUID("0b6a2d7e-4d8b-4a3e-9a4f-2a6a0a1f5c11")
TIME_FIELD = "time_epoch"
PAYLOAD_INDEXES = {
    "hub": models.PayloadSchemaType.KEYWORD,
    "entity": models.PayloadSchemaType.KEYWORD,
    "key": models.PayloadSchemaType.KEYWORD,
    "status": models.PayloadSchemaType.KEYWORD,
    TIME_FIELD: models.PayloadSchemaType.FLOAT,
}


def epoch(value: date | datetime | str) -> float:
    """A time as epoch seconds; a date is its midnight UTC (as the recall reader compares them),
    a time without a zone is UTC (as staging reads it)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def point_id(entity: Entity, key: str) -> str:
    return str(uuid.uuid5(POINT_NAMESPACE, f"{entity.label}:{key}"))


def text_of(entity: Entity, row: dict[str, Any]) -> str:
    """The text embedded for a row: its declared text columns, labelled, skipping empty ones."""
    parts = []
    for name in entity.vectors.text:
        value = normalize(row.get(name))
        if value not in (None, "", [], "[]"):
            parts.append(f"{name}: {value if isinstance(value, str) else json.dumps(value)}")
    return "\n".join(parts)


def text_hash(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


def tune_local_storage(client: QdrantClient) -> None:
    """Local mode commits to SQLite once per point, with an fsync each time: 5,000 points take
    ~66 s here, ~1.4 s in WAL mode with synchronous=NORMAL (still safe against a crashed process;
    a power cut may lose the last writes, which the next sync rewrites from PostgreSQL). The
    connections are qdrant-client internals, so a version without them just stays slow."""
    for collection in getattr(getattr(client, "_client", None), "collections", {}).values():
        storage = getattr(getattr(collection, "storage", None), "storage", None)
        if storage is not None:
            storage.execute("PRAGMA journal_mode=WAL")
            storage.execute("PRAGMA synchronous=NORMAL")


def open_client(url: str | None, path: Path) -> QdrantClient:
    """A server when HUBS_QDRANT_URL is set, else local mode on disk (one process at a time)."""
    try:
        if url:
            client = QdrantClient(url=url, timeout=30)
            client.get_collections()
            return client
        path.mkdir(parents=True, exist_ok=True)
        client = QdrantClient(path=str(path))
        tune_local_storage(client)
        return client
    except Exception as exc:  # connection refused, lock held by another process, ...
        raise StoreUnavailable.reaching("Qdrant (vectors)", url or str(path), exc) from None


def collection_name(entity: Entity, slug: str, generation: int = 0) -> str:
    """The physical collection of an entity's points for an embedder, in a generation of the store
    (hubs/sync/generations.py: generation 0 is the name before generations)."""
    return physical(f"{entity.vectors.collection}__{slug}", generation)


class VectorStore(Store):
    wants_versions = False

    def __init__(self, client: QdrantClient, embedder: Embedder, generation: int = 0) -> None:
        self.client = client
        self.embedder = embedder
        self.generation = generation
        self.name = sync_name(f"vectors:{embedder.slug}", generation)
        self.local = getattr(client, "_client", None).__class__.__name__ == "QdrantLocal"

    def collection(self, entity: Entity) -> str:
        return collection_name(entity, self.embedder.slug, self.generation)

    def holds(self, entity: Entity) -> bool:
        return holds("vectors", entity)

    def prepare(self, catalog: Catalog) -> None:
        for name in sorted({self.collection(e) for e in catalog.entities if self.holds(e)}):
            if not self.client.collection_exists(name):
                self.client.create_collection(
                    name,
                    vectors_config=models.VectorParams(size=self.embedder.dimension, distance=models.Distance.COSINE),
                )
                tune_local_storage(self.client)
            if not self.local:  # local mode ignores payload indexes (and warns about each); a server keeps them
                for field, schema in PAYLOAD_INDEXES.items():
                    self.client.create_payload_index(name, field, schema)

    def payload(self, entity: Entity, key: str, row: dict[str, Any], digest: str) -> dict[str, Any]:
        payload = {
            "hub": entity.schema,
            "entity": entity.model,
            "label": entity.label,
            "key": key,
            "content_hash": digest,
            "model": self.embedder.model,
        }
        for name in entity.vectors.payload:
            value = normalize(row.get(name))
            if value is not None:
                payload[name] = value
        moment = row.get(entity.vectors.time) if entity.vectors.time else None
        if moment is not None:
            payload[TIME_FIELD] = epoch(moment)
        return payload

    def upsert(self, entity: Entity, changes: list[Change]) -> None:
        collection = self.collection(entity)
        ids = [point_id(entity, c.key) for c in changes]
        known = {str(p.id): p.payload for p in self.client.retrieve(collection, ids, with_payload=True)}
        to_embed: list[tuple[str, dict[str, Any], str]] = []
        payload_only: list[tuple[str, dict[str, Any]]] = []
        empty: list[str] = []
        for change, pid in zip(changes, ids, strict=True):
            text = text_of(entity, change.row)
            if not text:
                empty.append(pid)
                continue
            digest = text_hash(self.embedder.model, text)
            payload = self.payload(entity, change.key, change.row, digest)
            if pid in known and known[pid].get("content_hash") == digest:
                if known[pid] != payload:
                    payload_only.append((pid, payload))
            else:
                to_embed.append((pid, payload, text))
        if to_embed:
            vectors = self.embedder.embed([t for _, _, t in to_embed])
            points = [
                models.PointStruct(id=pid, vector=vector, payload=payload)
                for (pid, payload, _), vector in zip(to_embed, vectors, strict=True)
            ]
            self.client.upsert(collection, points=points)
        for pid, payload in payload_only:
            self.client.overwrite_payload(collection, payload=payload, points=[pid])
        if empty:
            self.client.delete(collection, points_selector=models.PointIdsList(points=empty))

    def delete(self, entity: Entity, keys: list[str]) -> None:
        self.client.delete(
            self.collection(entity), points_selector=models.PointIdsList(points=[point_id(entity, k) for k in keys])
        )

    def clear(self, catalog: Catalog) -> None:
        for name in {self.collection(e) for e in catalog.entities if self.holds(e)}:
            if self.client.collection_exists(name):
                self.client.delete_collection(name)

    def clear_entities(self, catalog: Catalog, entities: list[Entity]) -> None:
        # Every point names its entity in its payload.
        for entity in entities:
            name = self.collection(entity)
            if self.client.collection_exists(name):
                flt = models.Filter(
                    must=[models.FieldCondition(key="entity", match=models.MatchValue(value=entity.model))]
                )
                self.client.delete(name, points_selector=models.FilterSelector(filter=flt))

    def points(self, entity: Entity) -> dict[str, dict[str, Any]]:
        """Every point of the entity: id -> payload (for checks)."""
        flt = models.Filter(must=[models.FieldCondition(key="entity", match=models.MatchValue(value=entity.model))])
        return self.scroll(self.collection(entity), flt)

    def scroll(self, collection: str, flt: models.Filter | None = None) -> dict[str, dict[str, Any]]:
        """Every point of a physical collection (matching `flt`): id -> payload, without vectors."""
        found: dict[str, dict[str, Any]] = {}
        offset = None
        while True:
            page, offset = self.client.scroll(
                collection, scroll_filter=flt, limit=1000, offset=offset, with_payload=True, with_vectors=False
            )
            found.update({str(p.id): p.payload or {} for p in page})
            if offset is None:
                return found

    def size(self, catalog: Catalog) -> dict[str, int]:
        names = sorted({self.collection(e) for e in catalog.entities if self.holds(e)})
        return {
            f"{name} points": self.client.count(name, exact=True).count if self.client.collection_exists(name) else 0
            for name in names
        }

    def close(self) -> None:
        self.client.close()


def open_vectors(settings: Settings, catalog: Catalog, generation: int | None = None) -> VectorStore:
    """Qdrant (HUBS_QDRANT_URL, else local mode under HUBS_HOME), embedding as the environment says,
    in the store's published generation unless another is named (a builder's)."""
    from hubs.embeddings import embedder_from_env

    if generation is None:
        generation = resolve(settings, "vectors")
    return VectorStore(open_client(settings.qdrant_url, settings.home / "qdrant"), embedder_from_env(), generation)
