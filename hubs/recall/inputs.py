"""Every name a caller gives is checked against the typed catalog before any store is asked, and
every value is parsed here: nothing a caller writes reaches SQL or Cypher text. Names that pass
are the catalog's own (entity tables, labels, relationship types, columns); values travel as
query parameters. A mistake is a RecallError(400) that says what was expected.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hubs.catalog import Catalog, Entity
from hubs.recall.model import RecallError, bad_input
from hubs.sync.graph.edges import VERSION
from hubs.sync.records import join_key, normalize, split_key

MAX_HOPS = 3
MAX_ROWS = 1000
DEFAULT_LIMIT = 100
#: how long one query may run (PostgreSQL's statement_timeout, the graph's query timeout)
QUERY_TIMEOUT_MS = 5000
DIRECTIONS = ("both", "out", "in")
# Staging keeps no key, unique or indexed text longer than this (an index row holds ~2.7 kB).
MAX_KEY_BYTES = 500
_INTEGERS = {"smallint": 2**15, "integer": 2**31, "int": 2**31, "bigint": 2**63}


@dataclass(frozen=True)
class Key:
    """A key as the stores spell it (`text`) and its parts as PostgreSQL reads them (each cast
    to its column's type in the query)."""

    text: str
    parts: tuple[str, ...]


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f": did you mean {' or '.join(close)}?" if close else ""


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_input(f"{what} must be a non-empty string")
    if "\x00" in value:
        raise bad_input(f"{what} contains a NUL character, which no name or key holds")
    return value


class Names:
    """What a caller may name, from the catalog: entities (by name, model, label or
    schema.table), relationship types, labels and columns."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.entities: dict[str, Entity] = {}
        for entity in catalog.entities:
            for name in (entity.name, entity.model, entity.label, entity.qualified_name):
                self.entities[name] = entity
        self.by_label = {e.label: e for e in catalog.entities}
        # VERSION self-relationships are an entity's history, not a neighbour.
        self.types = frozenset(r.type for e in catalog.entities for r in e.relationships) - {VERSION}

    def entity(self, name: Any) -> Entity:
        name = _text(name, "the entity")
        found = self.entities.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(self.entities), n=5, cutoff=0.6)
            names = list(dict.fromkeys(self.entities[c].name for c in close))[:3]
            hint = f": did you mean {' or '.join(names)}?" if names else ""
            raise bad_input(
                f"unknown entity {name!r}{hint} (name an entity by its name, model, label"
                " or schema.table: tractor, tractors, Tractor or hub3_origin.tractors)"
            )
        return found

    def key(self, entity: Entity, key: Any) -> Key:
        """The key's parts, each checked against its column's type and spelled as the stores spell it."""
        key = _text(key, f"the key of {entity.name}")
        columns = entity.primary_key
        try:
            raw = split_key(key, len(columns))
        except ValueError:
            raise bad_input(
                f"{key!r} is not a key of {entity.name}: it has {len(columns)} parts ({'|'.join(columns)}),"
                " joined by '|' (a '|' or '\\' inside a part escaped with '\\')"
            ) from None
        values = [_typed(entity, column, part) for column, part in zip(columns, raw, strict=True)]
        return Key(join_key(values), tuple(str(normalize(v)) for v in values))

    def relationship_types(self, names: Iterable[Any] | None) -> tuple[str, ...]:
        """The types asked for (all of the catalog's when none), each one the catalog declares."""
        if not names:
            return tuple(sorted(self.types))
        chosen = []
        for name in names:
            name = _text(name, "a relationship type")
            if name not in self.types:
                hint = (
                    " (VERSION is an entity's history, not a neighbour)"
                    if name == VERSION
                    else _suggest(name, self.types)
                )
                raise bad_input(f"unknown relationship type {name!r}{hint}")
            chosen.append(name)
        return tuple(sorted(set(chosen)))

    def labels(self, names: Iterable[Any] | None) -> tuple[str, ...] | None:
        if not names:
            return None
        chosen = []
        for name in names:
            name = _text(name, "a label")
            entity = self.entities.get(name)
            if entity is None:
                raise bad_input(f"unknown label {name!r}{_suggest(name, self.by_label)}")
            chosen.append(entity.label)  # an entity's other names are understood too
        return tuple(sorted(set(chosen)))

    @staticmethod
    def columns(entity: Entity, names: Iterable[Any] | None) -> tuple[str, ...] | None:
        if not names:
            return None
        known = [c.name for c in entity.columns]
        for name in names:
            name = _text(name, "a column")
            if name not in known:
                raise bad_input(f"{entity.name} has no column {name!r}{_suggest(name, known)}")
        return tuple(names)


def _typed(entity: Entity, column: str, part: str) -> Any:
    """A key part as the Python value of its column's type (so it is spelled as the stores spell it)."""
    data_type = entity.column(column).data_type.lower().split("(")[0].strip()

    def wrong() -> RecallError:  # made only when needed: a key is read on every question
        return bad_input(f"{part!r} is not a valid {column} of {entity.name} (a {data_type})")

    try:
        if data_type == "uuid":
            return uuid.UUID(part)
        if data_type in _INTEGERS:
            number = int(part)
            if not -_INTEGERS[data_type] <= number < _INTEGERS[data_type]:
                raise wrong()
            return number
        if data_type in ("numeric", "decimal", "real", "double precision"):
            return Decimal(part)
        if data_type.startswith("timestamp"):
            return _instant(part)
        if data_type == "date":
            return date.fromisoformat(part)
    except (ValueError, InvalidOperation, OverflowError):
        raise wrong() from None
    if len(part.encode()) > MAX_KEY_BYTES:
        raise bad_input(f"{column} of {entity.name} is longer than any key ({MAX_KEY_BYTES} bytes at most)")
    return part


def _instant(text: str) -> datetime:
    """ISO 8601; a time without a zone is UTC (as staging reads it)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def valid_at(value: Any) -> datetime | None:
    """The time an interval must be valid at (ISO 8601: a date, or a date and time; no zone = UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value, "the time")
    try:
        return _instant(text)
    except (ValueError, OverflowError):
        raise bad_input(
            f"{text!r} is not an ISO 8601 time (2025-03-01, 2025-03-01T10:00:00Z or 2025-03-01T10:00:00-05:00)"
        ) from None


def bounded(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad_input(f"{what} must be a whole number between {low} and {high}, not {value!r}") from None
    if (isinstance(value, float) and value != number) or not low <= number <= high:
        raise bad_input(f"{what} must be between {low} and {high}, not {value!r}")
    return number


def hops(value: Any) -> int:
    return bounded(value, "hops", 1, MAX_HOPS)


def limit(value: Any) -> int:
    return bounded(value, "limit", 1, MAX_ROWS)


def direction(value: Any) -> str:
    if value not in DIRECTIONS:
        raise bad_input(f"direction must be one of {', '.join(DIRECTIONS)}, not {value!r}")
    return value


def transaction_time(value: Any, what: str = "known_at") -> int | datetime | None:
    """A transaction time: a landing sequence (a whole number) or a landing time (ISO 8601)."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return bounded(value, what, 0, 2**63 - 1)
    if isinstance(value, str) and value.strip().isdigit():
        return bounded(value.strip(), what, 0, 2**63 - 1)
    try:
        return valid_at(value)
    except RecallError as exc:
        raise bad_input(f"{what}: a landing sequence (a whole number) or a landing time: {exc.message}") from None
