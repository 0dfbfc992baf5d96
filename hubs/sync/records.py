"""Hub rows as store-neutral records: one key string, JSON-safe properties, a content hash.

Every derived store writes what these functions produce, and every consistency check compares
a store's copy with the same functions applied to PostgreSQL's row, so "equal" means the same
thing everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from hubs.catalog import Entity

# Bookkeeping columns: they describe the load, not the fact, so no copy carries them.
TECHNICAL = frozenset({"_landing_seq", "_row_hash", "created_at", "updated_at"})
# A key of several columns is its parts joined by "|", each part's backslashes and "|" escaped by a
# backslash, so ("S9|OT|X", "I") and ("S9", "X|OT|I") stay two keys. A one-column key is its
# value as it is (nothing to tell apart), which keeps those keys readable and unchanged.
KEY_SEPARATOR = "|"
_ESCAPE = str.maketrans({"\\": "\\\\", KEY_SEPARATOR: "\\" + KEY_SEPARATOR})


_AS_IS = frozenset({str, int, float, bool, type(None)})


def normalize(value: Any) -> Any:
    """A PostgreSQL value as JSON-safe data that reads back equal from any store."""
    if type(value) in _AS_IS:  # most values: a sync normalizes millions of them
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        # graphs hold no maps: JSON documents travel as canonical text
        return json.dumps(value, sort_keys=True, default=str)
    return value


def join_key(values: Iterable[Any]) -> str:
    """The key string of a row from its key columns' values (one spelling in every store)."""
    parts = [str(normalize(v)) for v in values]
    if len(parts) == 1:
        return parts[0]
    return KEY_SEPARATOR.join(p.translate(_ESCAPE) for p in parts)


def split_key(key: str, width: int) -> list[str]:
    """The parts of a key made by join_key from `width` values (as text)."""
    if width == 1:
        return [key]
    parts, part, escaped = [], "", False
    for char in key:
        if escaped:
            part, escaped = part + char, False
        elif char == "\\":
            escaped = True
        elif char == KEY_SEPARATOR:
            parts.append(part)
            part = ""
        else:
            part += char
    parts.append(part)
    if len(parts) != width:
        raise ValueError(f"{key!r} is not a key of {width} parts")
    return parts


def key_of(entity: Entity, row: dict[str, Any]) -> str:
    return join_key(row[c] for c in entity.primary_key)


def properties(entity: Entity, row: dict[str, Any]) -> dict[str, Any]:
    """The entity's facts of one row; NULLs are left out (no store keeps them)."""
    props = {}
    for column in entity.columns:
        name = column.name
        value = row.get(name)
        if value is None or name in TECHNICAL:
            continue
        value = normalize(value)
        if value != []:
            props[name] = value
    return props


def comparable(props: dict[str, Any]) -> dict[str, Any]:
    """A record's facts as stores compare them: bookkeeping left out, every number a float (a
    store may give back 3 where PostgreSQL had 3.0)."""
    return {
        k: (float(v) if isinstance(v, int) and not isinstance(v, bool) else v)
        for k, v in props.items()
        if k not in ("key", "_owner")
    }


def content_hash(props: dict[str, Any]) -> str:
    """Hash of a record's facts, whichever store they were read back from."""
    return hashlib.sha256(json.dumps(comparable(props), sort_keys=True, default=str).encode()).hexdigest()


def key_from_json(entity: Entity, key: dict[str, Any]) -> str:
    """The key string of a deleted row, from the deletion log's JSON key (timestamps come back as
    text there, so they are read as timestamps first to format like every other key)."""
    parts = []
    for name in entity.primary_key:
        value = key[name]
        if isinstance(value, str) and entity.column(name).data_type.startswith("timestamp"):
            value = datetime.fromisoformat(value)
        parts.append(value)
    return join_key(parts)


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items: one round trip each (UNWIND, a pipeline)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
