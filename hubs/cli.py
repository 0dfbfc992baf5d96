"""`hubs`: the platform's command line (servers, data in, the demo)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import click

from hubs import settings as hubs_settings
from hubs.secrets import ConnectionFailed, install_log_scrubber, scrub, shown
from hubs.servers import ServerError, embedded_servers
from hubs.settings import ENVIRONMENT, Settings, in_effect, redact
from hubs.sync.stores import STORES

DEMO_SCALE = 0.04
DEMO_SEED = 42


def _step(n: int, total: int, text: str) -> None:
    click.echo(f"[{n}/{total}] {text}")


def _start_servers(settings: Settings) -> None:
    servers = embedded_servers(settings)
    needed = settings.embedded_servers_needed()
    for name, server in servers.items():
        if name not in needed:
            click.echo(f"  {name:9} external  (set by environment)")
            continue
        started = server.start()
        state = "started " if started else "running "
        click.echo(f"  {name:9} {state}  {server.url}  data {server.data_dir}")


class ReaderMayLeave:
    """stdout for a reader that may go away (`hubs load FILE | head -1`): once the pipe is
    closed, output is dropped and the command carries on, so a run is never failed (or left
    holding its pool slot) because nobody reads its progress any more."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError):
            self._reader_left()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            self._reader_left()

    def _reader_left(self) -> None:
        # Point the descriptor at /dev/null so the interpreter's last flush succeeds too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class HubsGroup(click.Group):
    """Errors that explain themselves (a server that cannot be reached) end a command with
    their message instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConnectionFailed as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=HubsGroup)
def main() -> None:
    """hubs: one memory for the group's trucking companies."""
    install_log_scrubber()
    if not isinstance(sys.stdout, ReaderMayLeave):
        sys.stdout = ReaderMayLeave(sys.stdout)


@main.command()
def up() -> None:
    """Start the embedded servers (PostgreSQL, Redis cache, FalkorDB graph) and prepare landing."""
    settings = hubs_settings.load()
    try:
        _start_servers(settings)
        from resources import PostgresResource

        PostgresResource().ensure_ready()
    except ServerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"data folder: {settings.home}")


@main.command()
def down() -> None:
    """Stop the embedded servers (data stays in HUBS_HOME)."""
    settings = hubs_settings.load()
    for name, server in embedded_servers(settings).items():
        click.echo(f"  {name:9} {'stopped' if server.stop() else 'was not running'}")


@main.command()
def status() -> None:
    """Servers, stores and what the hubs hold."""
    from resources import CacheResource, GraphResource, PostgresResource, VectorResource

    settings = hubs_settings.load()
    click.echo(f"data folder: {settings.home}")
    for name, server in embedded_servers(settings).items():
        st = server.status()
        if name not in settings.embedded_servers_needed():
            click.echo(f"  {name:9} external (set by environment)")
        else:
            click.echo(
                f"  {name:9} {'running' if st.running else 'stopped'}  pid {st.pid or '-'}  "
                f"port {st.port}  log {st.log_file}"
            )
    for label, resource in (
        ("postgres", PostgresResource()),
        ("cache", CacheResource()),
        ("graph", GraphResource()),
        ("vectors", VectorResource()),
    ):
        try:
            answer = resource.ping()
        except ConnectionFailed as exc:  # a status report names every failure instead of stopping
            answer = f"unreachable: {exc}"
        except Exception as exc:
            answer = f"unreachable ({type(exc).__name__}: {scrub(str(exc)).splitlines()[0][:200]})"
        click.echo(f"  {label:9} {resource.describe()}: {answer}")
    try:
        from hubs.catalog import load_catalog
        from hubs.summary import entity_counts, format_counts

        click.echo(format_counts(entity_counts(settings, load_catalog())))
    except ConnectionFailed:
        click.echo("  (no counts: PostgreSQL cannot be reached, see above)")
    except Exception as exc:
        click.echo(f"  (no counts: {scrub(str(exc)).splitlines()[0]})")


@main.command()
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="1 = a mid-size group (~250 tractors, ~300 drivers, two years).",
)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the landing files.")
def generate(scale: float, seed: int, out: Path) -> None:
    """Write landing files for a fictional group (deterministic per seed)."""
    from hubs.generate import generate as run_generate

    started = time.monotonic()
    result = run_generate(scale, seed, out)
    for name, rows in result.files.items():
        click.echo(f"  {name:42} {rows:10,} rows")
    bad = sum(e["quarantined"] for e in result.expected.values())
    click.echo(
        f"{sum(result.files.values()):,} rows in {len(result.files)} files "
        f"({bad:,} deliberately bad) in {time.monotonic() - started:.1f}s -> {out}"
    )


def _run(job: str, path: str = "", ops: dict | None = None) -> bool:
    from hub_assets.runner import RunInterrupted, run_job

    try:
        outcome = run_job(job, path, ops=ops)
    except RunInterrupted as stopped:
        name = signal.Signals(stopped.signum).name
        click.echo(f"run {stopped.run_id} stopped by {name}: recorded as canceled, its pool slots freed")
        sys.exit(128 + stopped.signum)
    click.echo(
        f"run {outcome.run_id} {'succeeded' if outcome.success else 'FAILED'}: "
        f"{len(outcome.checks_passed)} checks passed, {len(outcome.checks_failed)} failed"
    )
    for name in outcome.checks_failed:
        click.echo(f"  failed check: {name}")
    for failure in outcome.failures:
        click.echo(f"  failed step: {failure}")
    if outcome.failures or outcome.checks_failed:
        click.echo(f"  full output: {outcome.log_file}")
    return outcome.success and not outcome.checks_failed


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def load(path: Path) -> None:
    """Land <schema>.<table>.csv|jsonl files (a file or a folder) into PostgreSQL."""
    if not _run("land", str(path.resolve())):
        sys.exit(1)


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path), required=False)
def refresh(path: Path | None) -> None:
    """Land files (default: the inbox), then build and check everything downstream."""
    if not _run("refresh", str(path.resolve()) if path else ""):
        sys.exit(1)


def _sync_stores(stores: tuple[str, ...], full: bool) -> None:
    failed = []
    for kind in stores or STORES:
        click.echo(f"{'rebuilding' if full else 'syncing'} the {kind} store")
        if not _run(f"{kind}_store", ops={f"sync_{kind}": {"config": {"full": full}}}):
            failed.append(kind)
    if failed:
        raise click.ClickException(f"not in sync: {', '.join(failed)} (see the failed steps and checks above)")


@main.command(name="sync")
@click.argument("stores", nargs=-1, type=click.Choice(STORES))
@click.option("--full", is_flag=True, help="Empty the store(s) and rebuild from PostgreSQL.")
def sync_command(stores: tuple[str, ...], full: bool) -> None:
    """Apply PostgreSQL's changes to the derived stores (default: all four), then check them."""
    _sync_stores(stores, full)


@main.command()
@click.argument("stores", nargs=-1, type=click.Choice(STORES))
def rebuild(stores: tuple[str, ...]) -> None:
    """Rebuild derived stores (default: all four) from PostgreSQL: the rollback path."""
    _sync_stores(stores, full=True)


@main.command()
@click.option("--scale", type=float, default=DEMO_SCALE, show_default=True)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
def demo(scale: float, seed: int) -> None:
    """Servers up, a small dataset generated, landed, built and checked; then a summary."""
    from hubs.catalog import load_catalog
    from hubs.generate import generate as run_generate
    from hubs.summary import entity_counts, format_counts, format_sizes, store_sizes

    settings = hubs_settings.load()
    started = time.monotonic()
    _step(1, 4, "embedded servers")
    try:
        _start_servers(settings)
    except ServerError as exc:
        raise click.ClickException(str(exc)) from exc
    folder = settings.home / "demo" / f"scale-{scale:g}-seed-{seed}"
    _step(2, 4, f"generating scale {scale:g}, seed {seed} -> {folder}")
    generated = run_generate(scale, seed, folder)
    click.echo(f"  {sum(generated.files.values()):,} rows in {len(generated.files)} files")
    _step(
        3,
        4,
        "landing and building (Dagster job 'refresh': landing -> staging -> hubs -> graph, cache,"
        " vectors, timeline, with checks)",
    )
    ok = _run("refresh", str(folder))
    _step(4, 4, "summary")
    catalog = load_catalog()
    click.echo(format_counts(entity_counts(settings, catalog)))
    click.echo("derived stores:")
    click.echo(format_sizes(store_sizes(settings, catalog)))
    click.echo(f"data:     {settings.home}  (PostgreSQL {redact(settings.effective_postgres_url)})")
    click.echo("quarantine: select * from quarantine.rows;   history: hub3_origin.tractors_history")
    click.echo("UI:       run `dagster dev` in this folder, then open http://127.0.0.1:3000")
    click.echo(f"done in {time.monotonic() - started:.1f}s")
    if not ok:
        sys.exit(1)


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Where to write it (default: docs/6-HUB-SCHEMA-CROSS-REFERENCE.md under the project root).",
)
def docs(out: Path | None) -> None:
    """Regenerate the 6-hub schema cross-reference from the dbt manifest (never edit it by hand)."""
    from hubs.catalog import CatalogError, ensure_manifest
    from hubs.docs import cross_reference

    target = out or hubs_settings.PROJECT_ROOT / "docs" / "6-HUB-SCHEMA-CROSS-REFERENCE.md"
    try:
        manifest_path = ensure_manifest()
        written = cross_reference.write(target, manifest_path)
        catalog, manifest = cross_reference.load(manifest_path)
    except (CatalogError, cross_reference.CrossReferenceError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {written}")
    for measure, count in cross_reference.summarize(catalog, manifest).rows():
        click.echo(f"  {measure:38} {count:>6,}")


@main.command(name="env")
def show_env() -> None:
    """The environment variables the platform reads and the value in effect (secrets masked)."""
    defaults = in_effect(hubs_settings.load())
    for name, meaning in ENVIRONMENT:
        value = os.environ.get(name, "").strip()
        current = shown(name, value) if value else defaults.get(name, "-")
        click.echo(f"  {name:28} {current:40} {meaning}")


if __name__ == "__main__":
    main()
