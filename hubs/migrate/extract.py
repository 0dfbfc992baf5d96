"""Extraction: the rows of the legacy mapping views (dbt models legacy_map.map_<schema>__<table>)
that are new or changed since the last extraction land in the entity's landing table, as one
pseudo-file `legacy:<view>` per entity and run, so staging, quarantine, history and the derived
stores treat them as any landed file.

- A row the mapping cannot map lands all the same, with the mapping's reason in `_load_errors`:
  staging quarantines it with that reason (never dropped).
- Incremental by a cursor on the legacy `updated_at`, plus the row's hash: only rows updated since
  the cursor are read from the legacy server, and of those only the ones whose mapped values
  changed land. Old software does not always maintain `updated_at`, so a sweep (`sweep=True`)
  reads every row and lands whatever changed whatever its `updated_at` says; a sweep also finds
  rows deleted in the legacy system (soft or hard) and lands their deletes.
- hubs_meta.legacy_rows remembers each extracted legacy row: its hash, its hub key and where it
  landed (file and row number), which is how a quarantined row is traced back to the legacy row.

Each entity is extracted in one transaction: its landing rows, its state and its cursor commit
together or not at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor

from hubs.catalog import Catalog, Entity
from hubs.db import connect
from hubs.landing.loader import FileResult
from hubs.settings import Settings

MAP_SCHEMA = "legacy_map"
MAP_PREFIX = "map_"
#: what every mapping view has besides the entity's landing columns
TECHNICAL = ("_legacy_table", "_legacy_id", "_legacy_updated_at", "_legacy_role", "_reject_reason")

STATE_DDL = """
create schema if not exists hubs_meta;
create table if not exists hubs_meta.legacy_rows (
    entity text not null,
    legacy_table text not null,
    legacy_id text not null,
    key jsonb not null,
    row_hash text not null,
    file_id bigint not null,
    row_number bigint not null,
    extracted_at timestamptz not null default now(),
    primary key (entity, legacy_table, legacy_id)
);
comment on table hubs_meta.legacy_rows is
    'Every legacy row extracted into landing: its hash, hub key and the landed row it became.';
create table if not exists hubs_meta.legacy_cursors (
    entity text primary key,
    updated_at timestamptz,
    extracted_at timestamptz not null default now()
);
comment on table hubs_meta.legacy_cursors is
    'Per entity, the latest legacy updated_at extracted (incremental extraction reads from there).';
"""


class MappingError(Exception):
    """A mapping view does not fit its entity's landing contract; the message names the view."""


@dataclass(frozen=True)
class Extracted:
    """What one entity's extraction landed."""

    entity: str
    view: str
    file_id: int | None
    rows: int  # landed rows (new, changed and deletes)
    rejected: int  # of them, rows the mapping could not map (quarantined by staging)
    deleted: int
    read: int  # legacy rows read from the legacy server
    seconds: float


def mapping_views(conn: Connection, catalog: Catalog) -> dict[str, Entity]:
    """map_<schema>__<table> views in MAP_SCHEMA -> the entity each feeds, in catalog order."""
    with conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s and table_name like %s",
            (MAP_SCHEMA, MAP_PREFIX + "%"),
        )
        names = {name for (name,) in cur.fetchall()}
    by_table = {e.landing_table: e for e in catalog.entities}
    unknown = sorted(n for n in names if n.removeprefix(MAP_PREFIX) not in by_table)
    if unknown:
        raise MappingError(
            f"mapping view(s) {', '.join(unknown)} name no entity: a mapping is map_<schema>__<table>"
            " of a hub table (e.g. map_hub3_origin__tractors)"
        )
    return {f"{MAP_PREFIX}{e.landing_table}": e for e in catalog.entities if f"{MAP_PREFIX}{e.landing_table}" in names}


def landing_columns(cur: Cursor, view: str, entity: Entity) -> list[str]:
    """The view's columns that are the entity's landing columns; a column that is neither that nor
    technical is a mapping mistake, refused by name."""
    cur.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s"
        " order by ordinal_position",
        (MAP_SCHEMA, view),
    )
    columns = [name for (name,) in cur.fetchall()]
    missing = [c for c in TECHNICAL if c not in columns]
    allowed = {c.name for c in entity.landed_columns}
    unknown = [c for c in columns if c not in allowed and c not in TECHNICAL]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"lacks {', '.join(missing)}")
        if unknown:
            problems.append(f"has column(s) {', '.join(unknown)} that {entity.qualified_name} does not land")
        raise MappingError(f"{MAP_SCHEMA}.{view} {' and '.join(problems)}")
    absent = [k for k in entity.primary_key if k not in columns]
    if absent:
        raise MappingError(
            f"{MAP_SCHEMA}.{view} does not produce the key of {entity.qualified_name}: {', '.join(absent)}"
        )
    return [c for c in columns if c not in TECHNICAL]


def _batch(cur: Cursor, view: str, columns: list[str], entity: Entity, since: object | None) -> int:
    """The legacy rows to consider, with their hash and key, in a temporary table; how many."""
    cols = sql.SQL(", ").join(sql.SQL("m.{}").format(sql.Identifier(c)) for c in columns)
    key = sql.SQL(", ").join(sql.SQL("{}, m.{}").format(sql.Literal(k), sql.Identifier(k)) for k in entity.primary_key)
    where = sql.SQL("where m._legacy_updated_at >= %s") if since is not None else sql.SQL("")
    cur.execute(
        sql.SQL(
            "create temporary table _legacy_batch on commit drop as"
            " select m._legacy_table, m._legacy_id, m._legacy_updated_at, m._legacy_role, m._reject_reason,"
            " {cols}, md5(row({cols}, m._reject_reason)::text) as _hash, jsonb_build_object({key}) as _key"
            " from {view} as m {where}"
        ).format(cols=cols, key=key, view=sql.Identifier(MAP_SCHEMA, view), where=where),
        (since,) if since is not None else None,
    )
    return cur.rowcount


def _changes(cur: Cursor, entity: Entity, sweep: bool) -> None:
    """_legacy_landing: rows to land, numbered: new or changed rows, then deletes of rows extracted
    before that the legacy system deleted (soft, or in a sweep, gone altogether)."""
    gone = (
        sql.SQL(
            " union all select s.legacy_table, s.legacy_id, s.key, null, true from hubs_meta.legacy_rows as s"
            " where s.entity = %(entity)s and not exists (select 1 from _legacy_batch as b"
            " where b._legacy_table = s.legacy_table and b._legacy_id = s.legacy_id)"
        )
        if sweep
        else sql.SQL("")
    )
    cur.execute(
        sql.SQL(
            "create temporary table _legacy_landing on commit drop as"
            " select row_number() over (order by _legacy_table, _legacy_id) as _n, * from ("
            " select b._legacy_table, b._legacy_id, b._key, b._hash, false as _delete from _legacy_batch as b"
            " left join hubs_meta.legacy_rows as s on s.entity = %(entity)s and s.legacy_table = b._legacy_table"
            " and s.legacy_id = b._legacy_id"
            " where b._legacy_role = 'row' and s.row_hash is distinct from b._hash"
            " union all select s.legacy_table, s.legacy_id, s.key, null, true from _legacy_batch as b"
            " join hubs_meta.legacy_rows as s on s.entity = %(entity)s and s.legacy_table = b._legacy_table"
            " and s.legacy_id = b._legacy_id where b._legacy_role = 'deleted' {gone}) as c"
        ).format(gone=gone),
        {"entity": entity.qualified_name},
    )


def _register(cur: Cursor, view: str, entity: Entity, rows: int) -> int:
    cur.execute(
        "insert into landing._files (file_name, entity, checksum, bytes, format, status, rows)"
        " select %s, %s, md5(string_agg(_legacy_table || ':' || _legacy_id || ':' || coalesce(_hash, 'delete'),"
        " ',' order by _n) || clock_timestamp()::text), 0, 'legacy', 'loaded', %s from _legacy_landing"
        " returning file_id",
        (f"legacy:{view}", entity.qualified_name, rows),
    )
    return cur.fetchone()[0]


def _land(cur: Cursor, entity: Entity, columns: list[str], file_id: int) -> None:
    table = sql.Identifier("landing", entity.landing_table)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.execute(
        sql.SQL(
            "insert into {table} (_file_id, _row_number, {cols}, _load_errors)"
            " select %s, l._n, {bcols}, b._reject_reason from _legacy_landing as l join _legacy_batch as b"
            " on b._legacy_table = l._legacy_table and b._legacy_id = l._legacy_id where not l._delete order by l._n"
        ).format(
            table=table, cols=cols, bcols=sql.SQL(", ").join(sql.SQL("b.{}").format(sql.Identifier(c)) for c in columns)
        ),
        (file_id,),
    )
    keys = sql.SQL(", ").join(map(sql.Identifier, entity.primary_key))
    cur.execute(
        sql.SQL(
            "insert into {table} (_file_id, _row_number, {keys}, _deleted)"
            " select %s, l._n, {values}, 'true' from _legacy_landing as l where l._delete order by l._n"
        ).format(
            table=table,
            keys=keys,
            values=sql.SQL(", ").join(sql.SQL("l._key ->> {}").format(sql.Literal(k)) for k in entity.primary_key),
        ),
        (file_id,),
    )


def _remember(cur: Cursor, entity: Entity, file_id: int) -> None:
    params = {"entity": entity.qualified_name, "file_id": file_id}
    cur.execute(
        "insert into hubs_meta.legacy_rows as s (entity, legacy_table, legacy_id, key, row_hash, file_id, row_number)"
        " select %(entity)s, _legacy_table, _legacy_id, _key, _hash, %(file_id)s, _n from _legacy_landing"
        " where not _delete on conflict (entity, legacy_table, legacy_id) do update set key = excluded.key,"
        " row_hash = excluded.row_hash, file_id = excluded.file_id, row_number = excluded.row_number,"
        " extracted_at = now()",
        params,
    )
    cur.execute(
        "delete from hubs_meta.legacy_rows as s using _legacy_landing as l where s.entity = %(entity)s"
        " and s.legacy_table = l._legacy_table and s.legacy_id = l._legacy_id and l._delete",
        params,
    )
    cur.execute(
        "insert into hubs_meta.legacy_cursors (entity, updated_at)"
        " select %(entity)s, max(_legacy_updated_at) from _legacy_batch"
        " on conflict (entity) do update set extracted_at = now(),"
        " updated_at = greatest(hubs_meta.legacy_cursors.updated_at, excluded.updated_at)",
        params,
    )


def extract_entity(conn: Connection, view: str, entity: Entity, *, sweep: bool = False) -> Extracted:
    """Land what changed in one mapping view (all of it the first time); one transaction."""
    started = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute(STATE_DDL)
            columns = landing_columns(cur, view, entity)
            cur.execute("select updated_at from hubs_meta.legacy_cursors where entity = %s", (entity.qualified_name,))
            found = cur.fetchone()
            since = None if sweep or found is None else found[0]
            read = _batch(cur, view, columns, entity, since)
            _changes(cur, entity, sweep or found is None)
            cur.execute("select count(*), count(*) filter (where _delete) from _legacy_landing")
            rows, deleted = cur.fetchone()
            file_id = None
            rejected = 0
            if rows:
                file_id = _register(cur, view, entity, rows)
                _land(cur, entity, columns, file_id)
                _remember(cur, entity, file_id)
                cur.execute(
                    "select count(*) from _legacy_landing as l"
                    " join _legacy_batch as b using (_legacy_table, _legacy_id)"
                    " where not l._delete and b._reject_reason is not null"
                )
                rejected = cur.fetchone()[0]
            elif found is None:
                _remember(cur, entity, 0)  # the cursor, so the next run is incremental
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return Extracted(entity.qualified_name, view, file_id, rows, rejected, deleted, read, time.monotonic() - started)


EXTRACTION_MODES = ("changes", "sweep")


def extract_legacy(
    settings: Settings, catalog: Catalog, mode: str, progress: Callable[[FileResult], None] | None = None
) -> list[FileResult]:
    """The landing step's legacy source: each mapping view's changes land as one pseudo-file
    `legacy:<view>` (reported as files are)."""
    if mode not in EXTRACTION_MODES:
        raise ValueError(f"legacy extraction {mode!r}: expected one of {', '.join(EXTRACTION_MODES)}")
    conn = connect(settings)
    try:
        views = mapping_views(conn, catalog)
        if not views:
            raise MappingError(
                f"no legacy mapping views in {MAP_SCHEMA}: run the job migrate_1_mapping first"
                " (`hubs migrate run 1` runs it, then this)"
            )
        results = []
        for view, entity in views.items():
            done = extract_entity(conn, view, entity, sweep=mode == "sweep")
            message = f"{done.rejected} the mapping could not map (quarantined)" if done.rejected else ""
            result = FileResult(
                Path(f"legacy:{view}"),
                entity.qualified_name,
                "loaded" if done.rows else "skipped",
                done.rows,
                message or ("" if done.rows else "nothing changed in the legacy system"),
                done.seconds,
            )
            results.append(result)
            if progress:
                progress(result)
        return results
    finally:
        conn.close()
