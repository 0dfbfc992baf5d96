"""X3: the Redis cache against PostgreSQL's current rows.

What the cache should hold is `hubs.sync.cache.writes` over every current row (with the store's
filter columns): key -> (value, TTL), and per row an index set of those keys. Against that:

* a key present in Redis must hold exactly the expected value and a TTL in (0, ttl_seconds];
* a key matching an entry's pattern that no current row produces is stale (its row was deleted,
  stopped qualifying, or changed the fields its key is made of);
* an index set must exist for each row that writes keys and list exactly them; one for a row
  or entity that no longer writes any is stale.

Recall's read-through records (`hubs:get:<Label>:<key>`, filled by readers) must hold their
row's current facts; one of a row that is gone, or of an entity the cache does not hold, is stale.

A key that is absent while its row's index lists it has expired: keys carry TTLs and only the
real-time ones are rewritten between changes, so a miss is a cache doing its job, not a
disagreement (it is counted, not failed). A key that is absent and unknown to its row's index
was never written.

Cost: one pass over each cached entity's current rows, one SCAN of the keyspace, and pipelined
GET / PTTL / SMEMBERS in batches of 1,000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from hubs.catalog import Entity
from hubs.checks.base import CheckContext, CheckOutcome, check
from hubs.sync.cache import (
    GENERATIONS,
    INDEX_PREFIX,
    RECORD_PREFIX,
    CacheStore,
    key_glob,
    record_key,
    record_value,
    writes,
)
from hubs.sync.feed import current_rows
from hubs.sync.records import chunks, key_of

BATCH = 1000
SHOWN = 160  # characters of a value shown in a problem


@dataclass(frozen=True)
class Expected:
    entity: Entity
    row_key: str
    value: str
    ttl: int


def _short(value: Any) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "..."


def _pipelined(store: CacheStore, keys: list[str], *commands: str) -> Iterator[tuple[str, list[Any]]]:
    """(key, [answer of each command]) for every key, in batches of one pipeline each."""
    for part in chunks(keys, BATCH):
        pipe = store.client.pipeline(transaction=False)
        for key in part:
            for command in commands:
                getattr(pipe, command)(key)
        answers = store._execute(pipe)
        for i, key in enumerate(part):
            yield key, answers[i * len(commands) : (i + 1) * len(commands)]


def _scan(store: CacheStore, match: str | None = None) -> Iterable[str]:
    return (k.decode() for k in store.client.scan_iter(match=match, count=BATCH))


def _stale_records(store: CacheStore, records: dict[str, str | None], counts: Counter[str]) -> list[str]:
    """Read-through records that differ from their row's current facts, or whose row is gone
    (an expired one is no problem: it was asked about before it went)."""
    problems = []
    for key, (value,) in _pipelined(store, sorted(records), "get"):
        if value is None:
            continue
        counts["records"] += 1
        want = records[key]
        if want is None:
            counts["stale_records"] += 1
            problems.append(f"{key} is a record of no current row")
        elif value.decode() != want:
            counts["stale_records"] += 1
            problems.append(f"{key} holds {_short(value)}, PostgreSQL says {_short(want)}")
    return problems


@check("cache", "X3_postgres_redis_parity")
def postgres_redis_parity(ctx: CheckContext) -> CheckOutcome:
    """Every cached value equals PostgreSQL's current value, with its TTL; no key of a deleted row or entity."""
    store: CacheStore = ctx.store("cache")
    cached = [e for e in ctx.catalog.entities if store.holds(e)]
    problems: list[str] = []
    counts: Counter[str] = Counter()

    expected: dict[str, Expected] = {}
    indexes: dict[str, tuple[Entity, str, set[str]]] = {}  # index key -> (entity, row key, its keys)
    # Records read through: found first, so that only the rows they hold are kept to compare.
    records: dict[str, str | None] = {k: None for k in _scan(store, f"{RECORD_PREFIX}*")}
    for entity in cached:
        for row in current_rows(ctx.conn, entity, store.extra_columns(entity)):
            counts["rows"] += 1
            row_key = key_of(entity, row)
            if record_key(entity, row_key) in records:
                records[record_key(entity, row_key)] = record_value(entity, row)
            written = writes(entity, row)
            if not written:
                continue
            indexes[store.index_key(entity, row_key)] = (entity, row_key, set(written))
            for key, (value, ttl) in written.items():
                other = expected.get(key)
                if other is not None and other.value != value:
                    problems.append(
                        f"{entity.model} {row_key}: {key} is also written by {other.entity.model} {other.row_key}"
                        " with another value (PostgreSQL has two rows for one cache key)"
                    )
                expected[key] = Expected(entity, row_key, value, ttl)
        ctx.conn.rollback()  # end the snapshot the rows were read in
    counts["expected"] = len(expected)

    # fnmatch's `*` spans ':' as Redis' glob does
    patterns = [(key_glob(entry), entity) for entity in cached for entry in entity.cache]
    cached_labels = {e.label: e for e in cached}
    found_indexes: list[str] = []
    for key in _scan(store):
        if key.startswith(RECORD_PREFIX) or key == GENERATIONS:
            continue  # compared below
        if key.startswith(INDEX_PREFIX):
            found_indexes.append(key)
        elif key not in expected:
            owner = next((entity for pattern, entity in patterns if fnmatchcase(key, pattern)), None)
            if owner is not None:
                counts["stale"] += 1
                problems.append(f"{owner.model}: {key} is cached for no current row that writes it")

    members: dict[str, set[str]] = {}
    for index, (answer,) in _pipelined(store, found_indexes, "smembers"):
        label, _, row_key = index[len(INDEX_PREFIX) :].partition(":")
        if label not in cached_labels:
            counts["stale_indexes"] += 1
            problems.append(f"{label} {row_key}: index {index} of an entity the cache does not hold")
        elif index not in indexes:
            counts["stale_indexes"] += 1
            problems.append(f"{cached_labels[label].model} {row_key}: index {index} of no current row writing keys")
        else:
            members[index] = {m.decode() for m in answer}

    for index, (entity, row_key, keys) in sorted(indexes.items()):
        if index not in members:
            # without it, the row's keys would outlive the row
            problems.append(f"{entity.model} {row_key}: no index set {index}")
            continue
        extra = sorted(members[index] - keys)
        if extra:
            problems.append(f"{entity.model} {row_key}: index lists keys the row no longer writes: {', '.join(extra)}")
        unlisted = sorted(keys - members[index])
        if unlisted:
            problems.append(f"{entity.model} {row_key}: index misses {', '.join(unlisted)}")

    for key, (value, pttl) in _pipelined(store, sorted(expected), "get", "pttl"):
        want = expected[key]
        index = store.index_key(want.entity, want.row_key)
        if value is None:
            if key in members.get(index, set()):
                counts["expired"] += 1
            else:
                counts["missing"] += 1
                problems.append(f"{want.entity.model} {want.row_key}: {key} was never cached")
            continue
        counts["present"] += 1
        if value.decode() != want.value:
            counts["differing"] += 1
            problems.append(
                f"{want.entity.model} {want.row_key}: {key} holds {_short(value)}, PostgreSQL says {_short(want.value)}"
            )
        if pttl == -1:
            counts["bad_ttl"] += 1
            problems.append(f"{want.entity.model} {want.row_key}: {key} has no TTL (should expire within {want.ttl} s)")
        elif pttl > want.ttl * 1000:
            counts["bad_ttl"] += 1
            problems.append(
                f"{want.entity.model} {want.row_key}: {key} expires in {pttl / 1000:.0f} s, more than its {want.ttl} s"
            )
    problems += _stale_records(store, records, counts)
    # Expired keys are compared with nothing: only present ones were asked about.
    unasked = (
        []
        if counts["present"]
        else [
            "no current row writes a cache key"
            if not counts["expected"]
            else f"all {counts['expected']} cache keys have expired: no value to compare"
        ]
    )
    return CheckOutcome.from_problems(
        "X3_postgres_redis_parity",
        problems,
        f"{counts['present']} of {counts['expected']} cache keys present and checked ({counts['expired']} expired)",
        unasked,
        asked=counts["present"],
        **{
            k: counts[k]
            for k in (
                "rows",
                "expected",
                "present",
                "expired",
                "missing",
                "differing",
                "bad_ttl",
                "stale",
                "stale_indexes",
                "records",
                "stale_records",
            )
        },
    )
