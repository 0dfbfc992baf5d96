"""X2: the Qdrant collections of the current embedding model against PostgreSQL's rows.

A row with text (`text_of`) must have exactly one point, at its id, whose content hash is that of
its current text under the current model and whose payload is what the sync writes for the row
today; no other point may stay (a deleted row, a row whose text emptied, a point left from a
stale write). Collections of other models are not this model's business and are not read.

Cost: one pass over each vector entity's current rows and one scroll (payloads only, 1,000 per
page) of each of the model's collections.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hubs.catalog import Entity
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.sync.feed import current_rows
from hubs.sync.records import key_of
from hubs.sync.vectors import VectorStore, point_id, text_hash, text_of


@dataclass(frozen=True)
class Wanted:
    entity: Entity
    key: str
    payload: dict[str, Any]


def _wanted(ctx: CheckContext, store: VectorStore, entity: Entity) -> tuple[int, dict[str, Wanted]]:
    """Rows read and the point each embeddable row should have, by point id."""
    rows, wanted = 0, {}
    for row in current_rows(ctx.conn, entity):
        rows += 1
        text = text_of(entity, row)
        if text:
            key = key_of(entity, row)
            digest = text_hash(store.embedder.model, text)
            wanted[point_id(entity, key)] = Wanted(entity, key, store.payload(entity, key, row, digest))
    ctx.conn.rollback()  # the rows were read in a transaction of their own; end its snapshot
    return rows, wanted


def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return sorted(name for name in set(found) | set(wanted) if found.get(name) != wanted.get(name))


@check("vectors", "X2_postgres_qdrant_parity")
def postgres_qdrant_parity(ctx: CheckContext) -> CheckOutcome:
    """Every embeddable row has exactly one point with its current text's hash (current model); no stale point."""
    store: VectorStore = ctx.store("vectors")
    model = store.embedder.model
    by_collection: dict[str, list[Entity]] = {}
    for entity in ctx.catalog.entities:
        if store.holds(entity):
            by_collection.setdefault(store.collection(entity), []).append(entity)

    problems: list[str] = []
    counts: Counter[str] = Counter()
    for collection, entities in sorted(by_collection.items()):
        wanted: dict[str, Wanted] = {}
        for entity in entities:
            rows, of_entity = _wanted(ctx, store, entity)
            counts["rows"] += rows
            wanted.update(of_entity)
        counts["embeddable"] += len(wanted)
        if not store.client.collection_exists(collection):
            problems.append(f"collection {collection} of model {model} does not exist ({len(wanted)} rows to embed)")
            counts["missing"] += len(wanted)
            continue
        points = store.scroll(collection)
        counts["points"] += len(points)
        per_row = Counter((p.get("entity"), p.get("key")) for p in points.values())
        for (entity_name, key), n in sorted(per_row.items(), key=str):
            if n > 1:
                problems.append(f"{entity_name} {key}: {n} points in {collection}, expected one")
        for pid, payload in sorted(
            points.items(), key=lambda item: (str(item[1].get("entity")), str(item[1].get("key")))
        ):
            entity_name, key = payload.get("entity"), payload.get("key")
            expected = wanted.get(pid)
            if expected is None:
                counts["stale"] += 1
                problems.append(
                    f"{entity_name} {key}: point {pid} in {collection} for no current row with text"
                    " (deleted, emptied or misplaced)"
                )
            elif (entity_name, key) != (expected.entity.model, expected.key):
                counts["stale"] += 1
                problems.append(
                    f"{expected.entity.model} {expected.key}: point {pid} carries {entity_name} {key} instead"
                )
            elif payload.get("model") != model:
                counts["stale"] += 1
                problems.append(f"{entity_name} {key}: embedded with {payload.get('model')}, current model is {model}")
            elif payload.get("content_hash") != expected.payload["content_hash"]:
                counts["stale"] += 1
                problems.append(f"{entity_name} {key}: point embeds an older text (content hash differs)")
            elif payload != expected.payload:
                counts["stale_payload"] += 1
                fields = ", ".join(_differences(payload, expected.payload))
                problems.append(f"{entity_name} {key}: payload differs from the row in {fields}")
        for pid, expected in sorted(wanted.items(), key=lambda item: (item[1].entity.model, item[1].key)):
            if pid not in points:
                counts["missing"] += 1
                problems.append(f"{expected.entity.model} {expected.key}: no point in {collection}")
    unasked = [] if counts["embeddable"] else ["PostgreSQL has no row with text to embed: no point to compare"]
    return CheckOutcome.from_problems(
        "X2_postgres_qdrant_parity",
        problems,
        f"{counts['embeddable']} embeddable rows, {counts['points']} points ({model})",
        unasked,
        asked=counts["embeddable"],
        **{k: counts[k] for k in ("rows", "embeddable", "points", "missing", "stale", "stale_payload")},
    )
