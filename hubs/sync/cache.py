"""The Redis cache: key patterns and TTLs from meta.hubs.cache, values from the rows.

A value is the JSON of the entry's fields. Every row remembers which keys it wrote (a set
`hubs:index:<Label>:<key>`, kept without TTL), so when the row changes the keys it no longer
produces are deleted, and when it disappears all of them go, whatever fields the pattern
uses. Entries with a `where` (e.g. only current assignments) are filtered by PostgreSQL.
Real-time keys (TTL 60 s) are rewritten by `refresh_realtime` on a schedule that keeps them
alive between changes.

Recall reads whole records through the cache (hubs/recall/readthrough.py): `hubs:get:<Label>:<key>`
holds a row's facts, filled by a reader on a miss. This adapter deletes that key whenever the row
changes or goes, and counts each such change in `hubs:generations` (a hash, a field per label); a
reader fills a key only if its label's count did not move since it read PostgreSQL, so a fill
from a read that a change overtook can never outlive the change.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import redis
from psycopg2.extensions import connection as Connection
from redis.commands.core import Script

from hubs.catalog import Catalog, Entity
from hubs.catalog_meta import KEY_PLACEHOLDER, CacheEntry
from hubs.secrets import scrub
from hubs.settings import Settings
from hubs.sync.connections import cache_client
from hubs.sync.engine import Store, StoreUnavailable
from hubs.sync.feed import Change, current_rows
from hubs.sync.generations import resolve, sync_name
from hubs.sync.kinds import holds
from hubs.sync.records import key_of, normalize, properties

INDEX_PREFIX = "hubs:index:"
# Written (without TTL, so volatile-lru never evicts it) at the end of every sync: a cache
# without it has lost its content since (a restart: the cache keeps nothing on disk).
SYNCED_MARKER = "hubs:synced"
REALTIME_TTL = 60
RECORD_PREFIX = "hubs:get:"
# Without TTL (so volatile-lru never evicts it): per label, how many times its records were invalidated.
GENERATIONS = "hubs:generations"
#: the sync's and Recall's own keys of one name (not cache content: `hubs cache` does not list them)
BOOKKEEPING = (SYNCED_MARKER, GENERATIONS)
DELETE_BATCH = 1000  # keys per DEL

# A batch of rows written by one script (no KEYS: the keys are data, so this needs one Redis
# server, not a cluster; the generations already live in numbered databases, which a cluster
# lacks). ARGV: index prefix, record prefix, fresh (1: the entity was emptied by this sync, so no
# row wrote a key before), the generations hash and its field; then per row: its key, how many
# cache keys it writes, and that many (key, value, TTL). Every stale key goes before any key is
# written: rows of a batch can hand a key over (a unit's new primary assignment and the closing of
# the old one), and deleting the old row's key after the new row wrote it would drop the new
# holder's value. Each row's record (Recall's read-through copy) goes, and the label's count of
# invalidations moves, as `invalidate` does.
UPSERT = """
local index_prefix, record_prefix, fresh = ARGV[1], ARGV[2], ARGV[3] == '1'
local rows = {}
local i = 6
while i <= #ARGV do
  local row = {index = index_prefix .. ARGV[i], record = record_prefix .. ARGV[i], writes = {}}
  local n = tonumber(ARGV[i + 1])
  i = i + 2
  for _ = 1, n do
    row.writes[#row.writes + 1] = {ARGV[i], ARGV[i + 1], ARGV[i + 2]}
    i = i + 3
  end
  rows[#rows + 1] = row
end
for _, row in ipairs(rows) do
  redis.call('DEL', row.record)
  if not fresh then
    local keeps = {}
    for _, w in ipairs(row.writes) do keeps[w[1]] = true end
    for _, old in ipairs(redis.call('SMEMBERS', row.index)) do
      if not keeps[old] then
        redis.call('DEL', old)
        redis.call('SREM', row.index, old)
      end
    end
  end
end
for _, row in ipairs(rows) do
  for _, w in ipairs(row.writes) do
    redis.call('SET', w[1], w[2], 'EX', w[3])
    redis.call('SADD', row.index, w[1])
  end
end
redis.call('HINCRBY', ARGV[4], ARGV[5], 1)
"""

# Rows gone: the keys each wrote (its index set), the set itself and its record. ARGV: index
# prefix, record prefix, the generations hash and its field, then the rows' keys.
DELETE = """
for i = 5, #ARGV do
  local index = ARGV[1] .. ARGV[i]
  for _, old in ipairs(redis.call('SMEMBERS', index)) do redis.call('DEL', old) end
  redis.call('DEL', index, ARGV[2] .. ARGV[i])
end
redis.call('HINCRBY', ARGV[3], ARGV[4], 1)
"""


def key_glob(entry: CacheEntry) -> str:
    """The entry's keys as a Redis glob pattern (each `{field}` a `*`)."""
    return KEY_PLACEHOLDER.sub("*", entry.key)


def filter_column(index: int) -> str:
    return f"_cache_where_{index}"


def key_segment(value: Any) -> str:
    """A value as it fills a `{field}` of a key pattern: backslashes and ':' escaped with a
    backslash, so the segments of `invoice:{entity_code}:{invoice_number}:balance` stay apart
    whatever the values hold."""
    return str(normalize(value)).replace("\\", "\\\\").replace(":", "\\:")


def record_key(entity: Entity, key: str) -> str:
    """Where Recall keeps a row's whole record (read-through)."""
    return f"{RECORD_PREFIX}{entity.label}:{key}"


def record_ttl(entity: Entity) -> int:
    """A record lives as long as the entity's longest-lived cache entry."""
    return max(e.ttl_seconds for e in entity.cache)


def record_value(entity: Entity, row: dict[str, Any]) -> str:
    return json.dumps(properties(entity, row), sort_keys=True)


def cache_key(entry: CacheEntry, row: dict[str, Any]) -> str | None:
    values = {name: row.get(name) for name in entry.placeholders}
    if any(v is None for v in values.values()):
        return None
    return entry.key.format(**{k: key_segment(v) for k, v in values.items()})


def cache_value(entry: CacheEntry, row: dict[str, Any]) -> str:
    return json.dumps({f: normalize(row.get(f)) for f in entry.fields}, sort_keys=True)


def writes(entity: Entity, row: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """key -> (value, ttl) for one row."""
    out = {}
    for index, entry in enumerate(entity.cache):
        if entry.where and not row.get(filter_column(index)):
            continue
        key = cache_key(entry, row)
        if key is not None:
            out[key] = (cache_value(entry, row), entry.ttl_seconds)
    return out


class CacheStore(Store):
    def __init__(self, client: redis.Redis, generation: int = 0) -> None:
        self.client = client  # in the generation's database (cache_generation.py)
        self.generation = generation
        self.name = sync_name("cache", generation)
        self._upsert = client.register_script(UPSERT)
        self._delete = client.register_script(DELETE)
        try:
            client.ping()
        except (redis.ConnectionError, OSError) as exc:
            raise StoreUnavailable(f"cannot reach the Redis cache: {scrub(str(exc))}") from None

    def holds(self, entity: Entity) -> bool:
        return holds("cache", entity)

    def lost_content(self) -> bool:
        try:
            return not self.client.exists(SYNCED_MARKER)
        except redis.ConnectionError as exc:
            raise StoreUnavailable(f"lost the Redis cache: {scrub(str(exc))}") from None

    def finish(self) -> None:
        try:
            self.client.set(SYNCED_MARKER, "1")
        except redis.ConnectionError as exc:
            raise StoreUnavailable(f"lost the Redis cache: {scrub(str(exc))}") from None

    def extra_columns(self, entity: Entity) -> dict[str, str]:
        return {filter_column(i): e.where for i, e in enumerate(entity.cache) if e.where}

    @staticmethod
    def index_key(entity: Entity, key: str) -> str:
        return f"{INDEX_PREFIX}{entity.label}:{key}"

    def upsert(self, entity: Entity, changes: list[Change]) -> None:
        # One script call per batch: each row's keys and values travel as arguments, and Redis
        # looks up the keys the row wrote before, drops the stale ones and writes the new ones
        # itself (a command per row per key from Python cost 4x the bare SETs; see UPSERT).
        args: list[Any] = [INDEX_PREFIX + entity.label + ":", RECORD_PREFIX + entity.label + ":"]
        args += [int(entity.model in self.fresh), GENERATIONS, entity.label]
        for change in changes:
            written = writes(entity, change.row)
            args += [change.key, len(written)]
            for key, (value, ttl) in written.items():
                args += [key, value, ttl]
        self._run(self._upsert, args)

    def delete(self, entity: Entity, keys: list[str]) -> None:
        prefixes = [INDEX_PREFIX + entity.label + ":", RECORD_PREFIX + entity.label + ":"]
        self._run(self._delete, [*prefixes, GENERATIONS, entity.label, *keys])

    def _run(self, script: Script, args: list[Any]) -> None:
        try:
            script(args=args)
        except redis.ConnectionError as exc:
            raise StoreUnavailable(f"lost the Redis cache: {scrub(str(exc))}") from None

    @staticmethod
    def index_glob(entity: Entity) -> str:
        return f"{INDEX_PREFIX}{entity.label}:*"

    def _forget_records(self, entity: Entity) -> None:
        self.client.hincrby(GENERATIONS, entity.label, 1)  # before: a fill racing the scan is refused
        self._delete_keys(list(self.client.scan_iter(match=record_key(entity, "*"), count=1000)))

    def clear(self, catalog: Catalog) -> None:
        for entity in catalog.entities:
            for pattern in [*(key_glob(e) for e in entity.cache), self.index_glob(entity)]:
                self._delete_keys(list(self.client.scan_iter(match=pattern, count=1000)))
            if entity.cache:
                self._forget_records(entity)

    def clear_entities(self, catalog: Catalog, entities: list[Entity]) -> None:
        chosen = {e.model for e in entities}
        # A key another entity's pattern also matches is left to its index set: only the row that
        # wrote it can say whose it is.
        others = [
            re.compile(fnmatch.translate(key_glob(entry)))
            for entity in catalog.entities
            if entity.model not in chosen
            for entry in entity.cache
        ]
        for entity in entities:
            indexes = list(self.client.scan_iter(match=self.index_glob(entity), count=1000))
            doomed: set[bytes] = set(indexes)
            for written in self._pipeline(lambda p: [p.smembers(i) for i in indexes]):  # noqa: B023 - called at once
                doomed.update(written)
            for entry in entity.cache:
                for key in self.client.scan_iter(match=key_glob(entry), count=1000):
                    if not any(pattern.match(key.decode()) for pattern in others):
                        doomed.add(key)
            self._delete_keys(sorted(doomed))
            self._forget_records(entity)

    def _delete_keys(self, keys: list[Any]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            self.client.delete(*keys[start : start + DELETE_BATCH])

    def refresh_realtime(self, conn: Connection, catalog: Catalog) -> int:
        """Rewrite every real-time key from PostgreSQL (TTL reset); returns how many."""
        written = 0
        for entity in catalog.entities:
            if not any(e.ttl_seconds <= REALTIME_TTL for e in entity.cache):
                continue
            pipe = self.client.pipeline(transaction=False)
            for row in current_rows(conn, entity, self.extra_columns(entity)):
                for key, (value, ttl) in writes(entity, row).items():
                    if ttl <= REALTIME_TTL:
                        pipe.set(key, value, ex=ttl)
                        pipe.sadd(self.index_key(entity, key_of(entity, row)), key)
                        written += 1
            self._execute(pipe)
        conn.commit()
        return written

    def _pipeline(self, fill: Any) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        fill(pipe)
        return self._execute(pipe)

    @staticmethod
    def _execute(pipe: redis.client.Pipeline) -> list[Any]:
        try:
            return pipe.execute()
        except redis.ConnectionError as exc:
            raise StoreUnavailable(f"lost the Redis cache: {scrub(str(exc))}") from None

    def size(self, catalog: Catalog) -> dict[str, int]:
        # The cache database holds the hubs' keys, each row's index set of the keys it wrote, and
        # the records Recall read through it.
        indexes = sum(1 for _ in self.client.scan_iter(match=f"{INDEX_PREFIX}*", count=1000))
        records = sum(1 for _ in self.client.scan_iter(match=f"{RECORD_PREFIX}*", count=1000))
        bookkeeping = int(self.client.exists(SYNCED_MARKER)) + int(self.client.exists(GENERATIONS))
        return {
            "keys": int(self.client.dbsize()) - indexes - records - bookkeeping,
            "rows indexed": indexes,
            "records read through": records,
        }

    def close(self) -> None:
        self.client.close()


def open_cache(settings: Settings, catalog: Catalog, generation: int | None = None) -> CacheStore:
    """The Redis cache (see hubs.sync.kinds), in its published generation (the readers' database)
    unless another is named (a builder's: in a database of its own, cache_generation.py)."""
    from hubs.sync.cache_generation import database

    if generation is None:
        return CacheStore(cache_client(settings), resolve(settings, "cache"))
    return CacheStore(cache_client(settings, db=database(settings, generation)), generation)
