"""`hubs scaffold`: the files a hub model needs besides its yml entry, written from that entry."""

from __future__ import annotations

import sys

import click

from hubs import scaffold as lib
from hubs.cli.app import main
from hubs.settings import PROJECT_ROOT


def _shown(outcome: lib.Outcome) -> str:
    piece = outcome.piece
    where = piece.path.relative_to(PROJECT_ROOT) if piece.path.is_relative_to(PROJECT_ROOT) else piece.path
    return f"{where} ({piece.entry.name})" if piece.entry else str(where)


@main.command()
@click.argument("entity", required=False)
@click.option(
    "--check", "only_check", is_flag=True, help="Write nothing; exit 1 listing what is missing or out of date."
)
def scaffold(entity: str | None, only_check: bool) -> None:
    """Write the staging model, its yml entry, the landing source, the hub model's sql (and the
    history model of an SCD-2 entity) that ENTITY's hub yml entry implies and that do not exist yet.

    ENTITY is an entity (tire), a model (tires) or schema.table (hub3_origin.tires); without
    it, every hub model."""
    try:
        models = [lib.find(entity)] if entity else lib.hub_models()
        outcomes = [o for m in models for o in (lib.check(m) if only_check else lib.scaffold(m))]
    except lib.ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    what = entity or f"all {len(models)} hub models"
    pending = [o for o in outcomes if o.state != "ok"]
    if only_check:
        for outcome in pending:
            click.echo(f"  {outcome.state:11} {_shown(outcome)}")
        if pending:
            click.echo(f"{what}: {len(pending)} missing or out of date: run `hubs scaffold {entity or ''}`".rstrip())
            sys.exit(1)
        click.echo(f"{what}: up to date ({len(outcomes)} files and entries checked)")
        return
    kept = [o for o in pending if o.piece.entry is not None and o.state == "out of date"]
    for outcome in pending:
        if outcome not in kept:
            verb = "appended" if outcome.piece.entry else ("wrote" if outcome.state == "missing" else "rewrote")
            click.echo(f"  {verb:8} {_shown(outcome)}")
    for outcome in kept:
        click.echo(f"  differs  {_shown(outcome)}: not rewritten (yml is only appended to): edit it by hand")
    if not pending:
        click.echo(f"{what}: nothing to do ({len(outcomes)} files and entries already as scaffolded)")
    if kept:
        sys.exit(1)
