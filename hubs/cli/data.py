"""Data in and out of the platform: generate, load, refresh, sync, rebuild, the demo, the docs,
and the environment in effect."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from hubs import settings as hubs_settings
from hubs.cli.app import main, run_job, run_reported, start_servers, step, succeeded
from hubs.secrets import shown
from hubs.settings import ENVIRONMENT, in_effect, redact
from hubs.sync.stores import STORES

DEMO_SCALE = 0.04
DEMO_SEED = 42
REFUSED_CHECK = "landing/_files:no_refused_files"


@main.command()
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="1 = a mid-size group (~250 tractors, ~300 drivers, two years).",
)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Folder for the landing files.")
@click.option(
    "--legacy",
    is_flag=True,
    help="Instead, write the same group's legacy system: a database (HUBS_LEGACY_URL, default `legacy`"
    " beside the hubs) for `hubs migrate`.",
)
def generate(scale: float, seed: int, out: Path | None, legacy: bool) -> None:
    """Write landing files for a fictional group (deterministic per seed), or its legacy system."""
    from hubs.generate import generate as run_generate

    if legacy:
        _generate_legacy(scale, seed)
        return
    if out is None:
        raise click.UsageError("--out FOLDER is required (or --legacy for the legacy system)")
    started = time.monotonic()
    result = run_generate(scale, seed, out)
    for name, rows in result.files.items():
        click.echo(f"  {name:42} {rows:10,} rows")
    bad = sum(e["quarantined"] for e in result.expected.values())
    click.echo(
        f"{sum(result.files.values()):,} rows in {len(result.files)} files "
        f"({bad:,} deliberately bad) in {time.monotonic() - started:.1f}s -> {out}"
    )


def _generate_legacy(scale: float, seed: int) -> None:
    from hubs.generate import build_rows
    from hubs.generate.legacy import build_legacy, create_database, write_legacy

    started = time.monotonic()
    settings = hubs_settings.load()
    if settings.postgres_url is None:
        start_servers(settings)
    url = settings.effective_legacy_url
    conn = create_database(url)
    try:
        written = write_legacy(conn, build_legacy(build_rows(scale, seed), seed))
    finally:
        conn.close()
    for table, rows in written.items():
        click.echo(f"  {table:12} {rows:10,} rows")
    click.echo(f"{sum(written.values()):,} legacy rows in {time.monotonic() - started:.1f}s -> {redact(url)}")


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def load(path: Path) -> None:
    """Land <schema>.<table>.csv|jsonl files (a file or a folder) into PostgreSQL."""
    outcome = run_reported("land", str(path.resolve()))
    if succeeded(outcome):
        return
    # The last line says what the exit code means.
    if REFUSED_CHECK in outcome.checks_failed:
        click.echo(
            "not all landed: the files marked `refused` above were refused whole (nothing of them landed): exit code 1"
        )
    else:
        click.echo("failed: see the failed steps and checks above: exit code 1")
    sys.exit(1)


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path), required=False)
def refresh(path: Path | None) -> None:
    """Land files (default: the inbox), then build and check everything downstream."""
    if not run_job("refresh", str(path.resolve()) if path else ""):
        sys.exit(1)


def _sync_stores(stores: tuple[str, ...], full: bool) -> None:
    failed = []
    for kind in stores or STORES:
        click.echo(f"{'rebuilding' if full else 'syncing'} the {kind} store")
        if not run_job(f"{kind}_store", ops={f"sync_{kind}": {"config": {"full": full}}}):
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
def check() -> None:
    """Run every check of the hub tables and the derived stores over every row (the Dagster job
    'audit'; a refresh's store checks ask only about what changed since they last passed)."""
    if not run_job("audit"):
        sys.exit(1)


@main.command()
@click.option("--scale", type=float, default=DEMO_SCALE, show_default=True)
@click.option("--seed", type=int, default=DEMO_SEED, show_default=True)
def demo(scale: float, seed: int) -> None:
    """Servers up, a small dataset generated, landed, built and checked; then a summary."""
    from hubs.catalog import load_catalog
    from hubs.generate import generate as run_generate
    from hubs.generate import generated_before
    from hubs.summary import entity_counts, format_counts, format_sizes, store_sizes

    settings = hubs_settings.load()
    started = time.monotonic()
    step(1, 4, "embedded servers")
    start_servers(settings)
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    folder = settings.home / "demo" / f"scale-{scale:g}-seed-{seed}"
    generated = generated_before(scale, seed, folder)
    if generated is None:
        step(2, 4, f"generating scale {scale:g}, seed {seed} -> {folder}")
        generated = run_generate(scale, seed, folder)
    else:
        step(2, 4, f"scale {scale:g}, seed {seed}: the files generated before in {folder}")
    click.echo(f"  {sum(generated.files.values()):,} rows in {len(generated.files)} files")
    step(
        3,
        4,
        "landing and building (Dagster job 'refresh': landing -> staging -> hubs -> graph, cache,"
        " vectors, timeline, with checks)",
    )
    ok = run_job("refresh", str(folder))
    step(4, 4, "summary")
    catalog = load_catalog()
    click.echo(format_counts(entity_counts(settings, catalog)))
    click.echo("derived stores:")
    click.echo(format_sizes(store_sizes(settings, catalog)))
    click.echo(f"data:     {settings.home}  (PostgreSQL {redact(settings.effective_postgres_url)})")
    click.echo(f"inbox:    {settings.inbox_dir}  (drop files here, then `hubs refresh`)")
    click.echo(
        "look:     hubs sql 'select * from quarantine.rows limit 5'   hubs cypher 'MATCH (t:Tractor) RETURN"
        " t.unit_number LIMIT 5'   hubs cache   hubs vectors search 'reefer'"
    )
    click.echo("history:  hubs sql 'select * from hub3_origin.tractors_history limit 5'")
    click.echo("UI:       `hubs ui`, then open http://127.0.0.1:3000")
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
        # Every variable has a value in effect; a missing default is a bug, said as such.
        current = shown(name, value) if value else defaults.get(name, "(no default known)")
        click.echo(f"  {name:28} {current:40} {meaning}")
