"""`hubs up`, `hubs down`, `hubs status`: the embedded servers, and what every store holds."""

from __future__ import annotations

import click

from hubs import settings as hubs_settings
from hubs.cli.app import main, start_servers, stopped_servers
from hubs.secrets import ConnectionFailed, scrub
from hubs.servers import embedded_servers
from hubs.settings import Settings
from hubs.sync.kinds import KINDS, STORES


@main.command()
def up() -> None:
    """Start the embedded servers (PostgreSQL, Redis cache, FalkorDB graph) and prepare landing."""
    from resources import PostgresResource

    settings = hubs_settings.load()
    start_servers(settings)
    # `hubs up` is where an operator puts things right: the landing DDL runs whatever is recorded.
    PostgresResource().ensure_ready(force=True)
    # The inbox exists from the start, so a user (or `dagster dev`'s sensor) finds where to drop files.
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"data folder: {settings.home}")
    click.echo(
        f"inbox:       {settings.inbox_dir}  (files dropped here are landed by `hubs refresh`"
        " or, while `dagster dev` runs, by its inbox sensor)"
    )


@main.command()
def down() -> None:
    """Stop the embedded servers (data stays in HUBS_HOME)."""
    settings = hubs_settings.load()
    for name, server in embedded_servers(settings).items():
        click.echo(f"  {name:9} {'stopped' if server.stop() else 'was not running'}")


def _servers(settings: Settings) -> None:
    click.echo("servers:")
    for name, server in embedded_servers(settings).items():
        st = server.status()
        if name not in settings.embedded_servers_needed():
            click.echo(f"  {name:9} external (set by environment)")
        else:
            click.echo(
                f"  {name:9} {'running' if st.running else 'stopped'}  pid {st.pid or '-'}  "
                f"port {st.port}  log {st.log_file}"
            )


def _connections(settings: Settings, down: list[str]) -> None:
    from resources import PostgresResource, StoreResource

    click.echo("connections:")
    for label, server, resource in (
        ("postgres", "postgres", PostgresResource()),
        ("cache", "cache", StoreResource(kind="cache")),
        ("graph", "graph", StoreResource(kind="graph")),
        ("vectors", None, StoreResource(kind="vectors")),
    ):
        if server in down:
            click.echo(f"  {label:9} {resource.describe()}: not running (run `hubs up`)")
            continue
        try:
            answer = resource.ping()
        except ConnectionFailed as exc:  # a status report names every failure instead of stopping
            answer = f"unreachable: {exc}"
        except Exception as exc:
            answer = f"unreachable ({type(exc).__name__}: {scrub(str(exc)).splitlines()[0][:200]})"
        click.echo(f"  {label:9} {resource.describe()}: {answer}")


def _vectors_name() -> str:
    try:
        from hubs.embeddings import embedder_from_env

        return f"vectors:{embedder_from_env().slug}"
    except Exception:  # a misconfigured embedder: the sync would fail too, say what it would be called
        return "vectors"


def _stores(settings: Settings, down: list[str]) -> None:
    from hubs.catalog import load_catalog
    from hubs.db import connect
    from hubs.freshness import store_lags
    from hubs.summary import format_size, store_size

    catalog = load_catalog()
    conn = connect(settings)
    try:
        lags = {lag.kind: lag for lag in store_lags(conn, catalog, _vectors_name())}
        click.echo("derived stores (what each holds; how far behind PostgreSQL):")
        for kind in STORES:
            if KINDS[kind].server in down:
                click.echo(f"  {kind:9} not running (run `hubs up`)")
            else:
                click.echo(f"  {kind:9} {format_size(store_size(kind, settings, catalog, conn))}")
            click.echo(f"  {'':9} {lags[kind].describe()}")
    finally:
        conn.close()


def _hub_counts(settings: Settings) -> None:
    from hubs.catalog import load_catalog
    from hubs.summary import entity_counts, format_counts

    click.echo("system of record:")
    click.echo(format_counts(entity_counts(settings, load_catalog())))


@main.command()
def status() -> None:
    """Servers, what each derived store holds and how far behind PostgreSQL it is, row counts."""
    settings = hubs_settings.load()
    click.echo(f"data folder: {settings.home}")
    click.echo(f"inbox:       {settings.inbox_dir}")
    _servers(settings)
    down = stopped_servers(settings)
    if "postgres" in down:
        # Nothing else can be read without the system of record: one line, not a wall of errors.
        click.echo(f"the embedded servers are not running ({', '.join(down)}): run `hubs up`")
        return
    _connections(settings, down)
    try:
        _stores(settings, down)
        _hub_counts(settings)
    except ConnectionFailed as exc:
        click.echo(f"  (no counts: {exc})")
    if down:
        click.echo(f"not running: {', '.join(down)}: run `hubs up`")


__all__ = ["down", "status", "up"]


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--port", "-p", type=int, default=3000, show_default=True)
@click.argument("dagster_args", nargs=-1, type=click.UNPROCESSED)
def ui(port: int, dagster_args: tuple[str, ...]) -> None:
    """Open the Dagster UI (`dagster dev` from the repo root, its instance the repo's dagster.yaml);
    extra arguments go to `dagster dev`."""
    import os
    import shutil
    import sys

    # With DAGSTER_HOME on the folder that holds dagster.yaml, dagster dev reads the same
    # configuration without announcing a temporary home "that will be removed".
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME") or str(hubs_settings.PROJECT_ROOT)}
    dagster = shutil.which("dagster", path=os.path.dirname(sys.executable)) or shutil.which("dagster")
    if dagster is None:
        raise click.ClickException("dagster is not installed in this environment: pip install -e '.[dev]'")
    click.echo(f"Dagster UI on http://127.0.0.1:{port} (Ctrl-C stops it; run history stays)")
    os.chdir(hubs_settings.PROJECT_ROOT)
    os.execve(dagster, [dagster, "dev", "-p", str(port), *dagster_args], env)
