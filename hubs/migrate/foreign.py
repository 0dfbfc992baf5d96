"""The legacy database seen from the hubs database through postgres_fdw: its tables become
foreign tables in one schema (LEGACY_SCHEMA), which dbt reads as sources, so extraction is
SQL the hubs database runs (a WHERE on a cursor column runs in the legacy database).

Measured on the embedded server (1M legacy rows of 7 columns): `insert ... select` from the
foreign table ~700k rows/s, a bare binary COPY out and in ~1.07M rows/s.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection

from hubs.secrets import redact

LEGACY_SCHEMA = "legacy_src"
SERVER = "legacy"
FETCH_SIZE = 10_000  # rows a foreign scan asks the legacy server for at a time (default 100)


class LegacyUnreachable(Exception):
    """The legacy database cannot be reached; the message says where (password hidden) and why."""


def _options(url: str) -> tuple[dict[str, str], dict[str, str]]:
    """The foreign server's options and the user mapping's, from a postgresql:// URL."""
    parts = urlsplit(url)
    server = {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
        "fetch_size": str(FETCH_SIZE),
    }
    user = {"user": unquote(parts.username or "postgres")}
    if parts.password:
        user["password"] = unquote(parts.password)
    return server, user


def _option_list(options: dict[str, str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.Literal(v)) for k, v in options.items())


def attach(conn: Connection, legacy_url: str, remote_schema: str = "public") -> list[str]:
    """(Re)create the foreign server, the user mapping and LEGACY_SCHEMA's foreign tables for the
    legacy database at `legacy_url`; the tables attached, sorted. Idempotent: a second call
    picks up tables the legacy database gained."""
    server, user = _options(legacy_url)
    with conn.cursor() as cur:
        cur.execute("create extension if not exists postgres_fdw")
        cur.execute(sql.SQL("drop server if exists {} cascade").format(sql.Identifier(SERVER)))
        cur.execute(
            sql.SQL("create server {} foreign data wrapper postgres_fdw options ({})").format(
                sql.Identifier(SERVER), _option_list(server)
            )
        )
        cur.execute(
            sql.SQL("create user mapping for current_user server {} options ({})").format(
                sql.Identifier(SERVER), _option_list(user)
            )
        )
        cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(LEGACY_SCHEMA)))
        cur.execute(sql.SQL("create schema {}").format(sql.Identifier(LEGACY_SCHEMA)))
        try:
            cur.execute(
                sql.SQL("import foreign schema {} from server {} into {}").format(
                    sql.Identifier(remote_schema), sql.Identifier(SERVER), sql.Identifier(LEGACY_SCHEMA)
                )
            )
        except psycopg2.OperationalError as exc:
            conn.rollback()
            why = (exc.diag.message_detail or exc.diag.message_primary or "").strip().removeprefix("FATAL:").strip()
            raise LegacyUnreachable(
                f"the legacy system at {redact(legacy_url)} cannot be reached ({why}): set HUBS_LEGACY_URL,"
                " or make one with `hubs generate --legacy`"
            ) from None
        cur.execute(
            "select foreign_table_name from information_schema.foreign_tables"
            " where foreign_table_schema = %s order by 1",
            (LEGACY_SCHEMA,),
        )
        tables = [name for (name,) in cur.fetchall()]
    conn.commit()
    return tables
