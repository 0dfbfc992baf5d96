"""Connections to the system of record."""

from __future__ import annotations

import psycopg2
import psycopg2.extensions

from hubs.secrets import connection_error
from hubs.settings import Settings

SERVER = "PostgreSQL (system of record)"


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg2.extensions.connection:
    """A connection to the system of record. A failure raises ConnectionFailed naming the server
    and its URL (password hidden): libpq's own message may quote the password it could not parse."""
    url = settings.effective_postgres_url
    try:
        conn = psycopg2.connect(url, application_name="hubs")
    except psycopg2.Error as exc:
        raise connection_error(SERVER, url, exc) from None
    conn.autocommit = autocommit
    return conn


def relation_exists(cur: psycopg2.extensions.cursor, schema: str, table: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (f'"{schema}"."{table}"',))
    return bool(cur.fetchone()[0])
