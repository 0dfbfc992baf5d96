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


# The role Recall reads as (hubs/recall/postgres.py): SELECT on the hub schemas and hubs_meta,
# nothing else (not landing or quarantine, which hold raw values), no writes.
READER_ROLE = "hubs_reader"
_CREATE_READER = f"""
do $$ begin
    if not exists (select from pg_roles where rolname = '{READER_ROLE}') then
        create role {READER_ROLE} nologin;
    end if;
exception when duplicate_object or unique_violation then null;  -- made meanwhile by another session
end $$
"""
# SET ROLE needs membership (a superuser has it; a CREATEROLE user may not, from PostgreSQL 16).
_JOIN_READER = f"""
do $$ begin
    if not pg_has_role(current_user, '{READER_ROLE}', 'MEMBER') then
        execute format('grant {READER_ROLE} to %I', current_user);
    end if;
end $$
"""


def ensure_reader_role(cur: psycopg2.extensions.cursor, schemas: list[str]) -> str:
    """Create the read-only role if it is missing and grant it SELECT on `schemas`, now and on the
    tables made in them later (by this user: dbt's and the sync's). Idempotent. A server that
    does not let this user create roles or grant is not an error: Recall then reads in read-only
    transactions as the platform's user. Returns what could not be done ("" when all was)."""
    if _reader_current(cur, schemas):
        return ""  # the common case (every load asks): nothing to write, no catalog row touched
    problems = []
    steps = [("create the role", _CREATE_READER), ("let this user act as it", _JOIN_READER)]
    for schema in schemas:
        name = psycopg2.extensions.quote_ident(schema, cur)
        steps += [
            (f"create schema {schema}", f"create schema if not exists {name}"),
            (f"grant on {schema}", f"grant usage on schema {name} to {READER_ROLE}"),
            (f"grant on {schema}", f"grant select on all tables in schema {name} to {READER_ROLE}"),
            (
                f"grant on {schema}'s future tables",
                f"alter default privileges in schema {name} grant select on tables to {READER_ROLE}",
            ),
        ]
    for what, statement in steps:
        cur.execute("savepoint reader_role")
        try:
            cur.execute(statement)
        except psycopg2.Error as exc:
            cur.execute("rollback to savepoint reader_role")
            problems.append(f"{what}: {exc.pgerror or exc}".strip())
        cur.execute("release savepoint reader_role")
    return "; ".join(problems)


def _reader_current(cur: psycopg2.extensions.cursor, schemas: list[str]) -> bool:
    """Whether the role exists, every schema exists and the role may read every table in them."""
    cur.execute(
        """
        select case when not exists (select from pg_roles where rolname = %(role)s) then false
        else (select count(*) from pg_namespace where nspname = any(%(schemas)s)) = cardinality(%(schemas)s::text[])
            and not exists (
                select from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
                where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'v', 'm', 'p')
                    and not has_table_privilege(%(role)s, c.oid, 'SELECT'))
        end
        """,
        {"role": READER_ROLE, "schemas": list(schemas)},
    )
    return bool(cur.fetchone()[0])
