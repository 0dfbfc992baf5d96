"""Whole records read through the Redis cache: `hubs:get:<Label>:<key>` holds a row's facts for
the entity's longest cache TTL.

A lookup is one command (a script): a hit answers the record and its TTL left, a miss the label's
invalidation count. A miss reads PostgreSQL and fills the key, but only if the label's count of
invalidations (hubs:generations, moved by the cache sync whenever it deletes a record of the
label) is still the one seen before PostgreSQL was read: a read that a change overtook never
leaves its old row in the cache after the sync that deleted the key went by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from hubs.catalog import Entity
from hubs.sync.cache import GENERATIONS, record_key, record_ttl, record_value

# KEYS: record, generations; ARGV: label. One command, not a pipeline of three: a hit costs about
# what a bare GET does (the pipeline cost twice that at p99, measured by benchmarks/recall.py).
_LOOK = """
local value = redis.call('GET', KEYS[1])
if value then
    return {value, redis.call('PTTL', KEYS[1])}
end
return {false, -2, redis.call('HGET', KEYS[2], ARGV[1])}
"""

# KEYS: record, generations; ARGV: label, the count seen, value, TTL in ms
_FILL = """
if (redis.call('HGET', KEYS[2], ARGV[1]) or '') == ARGV[2] then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
    return 1
end
return 0
"""


@dataclass(frozen=True)
class Lookup:
    values: dict[str, Any] | None  # None: a miss
    ttl_left_ms: int | None
    generation: str  # a miss: the label's invalidation count when looked up ("" before any)


class ReadThrough:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._look = client.register_script(_LOOK)
        self._fill = client.register_script(_FILL)

    def look(self, entity: Entity, key: str) -> Lookup:
        found = self._look(keys=[record_key(entity, key), GENERATIONS], args=[entity.label])
        if found[0] is None:
            generation = found[2] if len(found) > 2 else None
            return Lookup(None, None, generation.decode() if generation is not None else "")
        value, ttl = found
        return Lookup(json.loads(value), int(ttl) if ttl > 0 else None, "")

    def fill(self, entity: Entity, key: str, row: dict[str, Any], generation: str) -> int | None:
        """Cache the row's record; its TTL in ms, or None when a change overtook the read."""
        ttl_ms = record_ttl(entity) * 1000
        keys = [record_key(entity, key), GENERATIONS]
        done = self._fill(keys=keys, args=[entity.label, generation, record_value(entity, row), ttl_ms])
        return ttl_ms if done else None
