"""The landing schema: one append-only text table per entity, plus the file registry.

Landing keeps every row as it was received (all TEXT), so nothing a file said is ever lost
and staging can always be replayed. Column sets follow the catalog's landing contract; a
column the catalog gains later is added, never dropped.

The DDL (an ALTER TABLE per landing table, each under an ACCESS EXCLUSIVE lock) runs where the
schema can change: `hubs up`, the landing step, and the first connection after the catalog
changed. It records a fingerprint of the catalog's landing contract in hubs_meta.schema_state;
every other connection compares that with one cheap read (ensure_landing_current) and runs
nothing, so store steps, checks and the real-time cache sensor never queue behind a COPY or
hold up a reader.
"""

from __future__ import annotations

import hashlib
import json

from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extensions import cursor as Cursor

from hubs.catalog import Catalog, Entity
from hubs.db import ensure_reader_role

# _load_errors: what the loader found wrong with a row's values (a JSON object where a string
# belongs), one reason per line; staging adds them to the row's reasons.
TECHNICAL_COLUMNS = ("_landing_seq", "_file_id", "_row_number", "_deleted", "_load_errors")

REGISTRY_DDL = """
create schema if not exists landing;
create sequence if not exists landing.landing_seq;
create table if not exists landing._files (
    file_id bigserial primary key,
    file_name text not null,
    entity text,
    checksum text not null,
    bytes bigint not null,
    format text,
    rows bigint,
    status text not null check (status in ('loaded', 'refused')),
    message text,
    loaded_at timestamptz not null default now()
);
create unique index if not exists _files_loaded_once
    on landing._files (entity, checksum) where status = 'loaded';
comment on table landing._files is
    'Every file offered to the loader: loaded (with its row count) or refused (with why).';
"""


# Bump when ensure_landing_table's statements change (the fingerprint covers the catalog only).
LANDING_DDL_VERSION = 3  # 2: the read-only role of Recall (hubs.db.ensure_reader_role); 3: it reads landing
STATE_DDL = """
create schema if not exists hubs_meta;
create table if not exists hubs_meta.schema_state (
    part text primary key,
    fingerprint text not null,
    applied_at timestamptz not null default now()
);
comment on table hubs_meta.schema_state is
    'Fingerprint of the catalog each part of the schema was last made for (DDL runs when it differs).';
"""
LANDING_PART = "landing"
_DDL_LOCK = "select pg_advisory_xact_lock(hashtext('hubs:landing-ddl'))"


def landing_fingerprint(catalog: Catalog) -> str:
    """What the landing DDL depends on: every entity's landing table and columns."""
    contract = {
        "version": LANDING_DDL_VERSION,
        "registry": REGISTRY_DDL,
        "technical": TECHNICAL_COLUMNS,
        "tables": sorted(
            (e.landing_table, e.qualified_name, [c.name for c in e.landed_columns]) for e in catalog.entities
        ),
    }
    return hashlib.sha256(json.dumps(contract, sort_keys=True).encode()).hexdigest()


def recorded_fingerprint(cur: Cursor, part: str = LANDING_PART) -> str | None:
    """The fingerprint a part of the schema was last made for (None: never, or before fingerprints)."""
    cur.execute("select to_regclass('hubs_meta.schema_state') is not null")
    if not cur.fetchone()[0]:
        return None
    cur.execute("select fingerprint from hubs_meta.schema_state where part = %s", (part,))
    row = cur.fetchone()
    return row[0] if row else None


def record_fingerprint(cur: Cursor, part: str, fingerprint: str) -> None:
    """A part of the schema is now made for this fingerprint."""
    cur.execute(
        "insert into hubs_meta.schema_state (part, fingerprint) values (%s, %s)"
        " on conflict (part) do update set fingerprint = excluded.fingerprint, applied_at = now()",
        (part, fingerprint),
    )


def ensure_landing_current(conn: Connection, catalog: Catalog) -> bool:
    """Run the landing DDL only if the catalog changed since it last ran (or it never did);
    whether it ran. Two processes that both see a change take turns, and the second finds the
    fingerprint current and runs nothing."""
    wanted = landing_fingerprint(catalog)
    with conn.cursor() as cur:
        current = recorded_fingerprint(cur) == wanted
    conn.commit()
    if current:
        return False
    with conn, conn.cursor() as cur:
        cur.execute(_DDL_LOCK)
        if recorded_fingerprint(cur) == wanted:
            return False
        ensure_landing(cur, catalog)
    return True


def ensure_landing_table(cur: Cursor, entity: Entity) -> None:
    table = sql.Identifier("landing", entity.landing_table)
    cur.execute(
        sql.SQL(
            "create table if not exists {} ("
            " _landing_seq bigint primary key default nextval('landing.landing_seq'),"
            " _file_id bigint not null references landing._files (file_id),"
            " _row_number bigint not null,"
            " _deleted text)"
        ).format(table)
    )
    cur.execute(sql.SQL("alter table {} add column if not exists _load_errors text").format(table))
    for col in entity.landed_columns:
        cur.execute(sql.SQL("alter table {} add column if not exists {} text").format(table, sql.Identifier(col.name)))
    cur.execute(
        sql.SQL("comment on table {} is {}").format(
            table,
            sql.Literal(f"Rows landed for {entity.qualified_name}, as received (text)."),
        )
    )


def ensure_landing(cur: Cursor, catalog: Catalog) -> None:
    """Create the registry and every entity's landing table (idempotent), and record the
    catalog they were made for (in the caller's transaction: both commit, or neither)."""
    cur.execute(_DDL_LOCK)
    cur.execute(REGISTRY_DDL)
    for entity in catalog.entities:
        ensure_landing_table(cur, entity)
    cur.execute(STATE_DDL)
    # Recall reads as a read-only role; where this user may not make it, Recall says so and
    # reads in read-only transactions instead (hubs/recall/postgres.py).
    # landing too: when a belief was first held is the landing time of the row that brought it
    ensure_reader_role(cur, [*catalog.schemas, "hubs_meta", "landing"])
    record_fingerprint(cur, LANDING_PART, landing_fingerprint(catalog))
