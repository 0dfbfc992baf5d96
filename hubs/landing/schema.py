"""The landing schema: one append-only text table per entity, plus the file registry.

Landing keeps every row as it was received (all TEXT), so nothing a file said is ever lost
and staging can always be replayed. Column sets follow the catalog's landing contract; a
column the catalog gains later is added, never dropped.
"""

from __future__ import annotations

from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor

from hubs.catalog import Catalog, Entity

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
    """Create the registry and every entity's landing table (idempotent)."""
    cur.execute("select pg_advisory_xact_lock(hashtext('hubs:landing-ddl'))")
    cur.execute(REGISTRY_DDL)
    for entity in catalog.entities:
        ensure_landing_table(cur, entity)
