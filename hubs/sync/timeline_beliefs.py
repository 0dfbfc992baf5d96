"""What the timeline keeps of a key: every belief PostgreSQL holds about its versions, current or
superseded, each with when it was believed (the transaction time hubs/recall/history.py defines).

A version of an SCD-2 entity is a row of `<table>_history`, believed since its `known_from_seq` /
`known_from`; a version of an interval entity is its hub row, believed since the landed row it
came from (`_landing_seq` and its file's landing time). What a later landed row corrected, cut
short or deleted sits in hubs_meta.superseded with when it stopped being believed. Each belief
carries the four bounds under the names in KNOWN.
"""

from __future__ import annotations

from typing import Any

from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import RealDictCursor

from hubs.catalog import Entity
from hubs.sync.feed import history_table, hub_table
from hubs.sync.records import key_of, split_key

KNOWN = ("_known_from_seq", "_known_from", "_known_to_seq", "_known_to")


def versioned(entity: Entity) -> bool:
    """Whether the entity's versions are rows of `<table>_history` (else of the hub table)."""
    return entity.history == "scd2"


def known_since(entity: Entity) -> dict[str, str]:
    """The feed's extra columns that say since when a current hub row of an interval entity is
    believed (a history row records it itself)."""
    if versioned(entity):
        return {}
    landing = f'landing."{entity.landing_table}"'  # the catalog's name, as the feed's SQL takes text
    return {
        "_known_from_seq": "t._landing_seq",
        "_known_from": f"select f.loaded_at from {landing} as l join landing._files as f on f.file_id = l._file_id"
        " where l._landing_seq = t._landing_seq",
    }


def current(entity: Entity, version: dict[str, Any]) -> dict[str, Any]:
    """A current version with its bounds named as KNOWN says (still believed: no end)."""
    if versioned(entity):
        began = (version.get("known_from_seq"), version.get("known_from"))
    else:
        began = (version.get("_known_from_seq"), version.get("_known_from"))
    return {**version, **dict(zip(KNOWN, (*began, None, None), strict=True))}


def _by_key(entity: Entity) -> bool:
    # the macros wrote the key as jsonb of the typed columns; a timestamp's text there depends on
    # the session's time zone, so such keys are matched on the row's own columns instead
    return not any(entity.column(c).data_type.lower().startswith("timestamp") for c in entity.primary_key)


def superseded(conn: Connection, entity: Entity, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The superseded versions of these keys, by key, each with its four bounds."""
    if not keys:
        return {}
    columns = entity.primary_key
    table = history_table(entity) if versioned(entity) else hub_table(entity)
    arrays = sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(entity.column(c).data_type)) for c in columns)
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    if _by_key(entity):
        pairs = sql.SQL(", ").join(sql.SQL("{}, k.{}").format(sql.Literal(c), sql.Identifier(c)) for c in columns)
        match = sql.SQL("s.key = jsonb_build_object({})").format(pairs)
    else:
        match = sql.SQL(" and ").join(sql.SQL("t.{c} = k.{c}").format(c=sql.Identifier(c)) for c in columns)
    query = sql.SQL(
        "select t.*, s.known_from_seq as _known_from_seq, s.known_from as _known_from,"
        " s.known_to_seq as _known_to_seq, s.known_to as _known_to"
        " from unnest({arrays}) as k ({names})"
        " join hubs_meta.superseded as s on s.entity = %s and s.history = %s"
        " cross join lateral jsonb_populate_record(null::{table}, s.row) as t"
        " where {match}"
    ).format(arrays=arrays, names=names, table=table, match=match)
    parts = [split_key(k, len(columns)) for k in keys]
    params = [[p[i] for p in parts] for i in range(len(columns))] + [entity.qualified_name, versioned(entity)]
    with conn.cursor(cursor_factory=RealDictCursor) as cur:
        cur.execute(query, params)
        rows = [dict(r) for r in cur.fetchall()]
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found.setdefault(key_of(entity, row), []).append(row)
    return found
