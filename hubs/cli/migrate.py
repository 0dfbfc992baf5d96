"""`hubs migrate`: move a legacy system into the hubs in five gated phases."""

from __future__ import annotations

import getpass
import json
import sys

import click

from hubs.cli.app import main, run_reported, succeeded
from hubs.migrate.phases import (
    MAPPING_JOB,
    PHASES,
    PhaseBlocked,
    approve,
    latest,
    phase,
    record,
    require_open,
    roll_back,
)
from hubs.migrate.report import gate_lines, next_step


def _connection():
    from resources import PostgresResource

    return PostgresResource().connect()


@main.group()
def migrate() -> None:
    """Migrate a legacy system into the hubs in five gated phases (README: Migrating from a legacy system)."""


@migrate.command()
def plan() -> None:
    """The five phases, what each does and the Dagster job that runs it."""
    for p in PHASES:
        click.echo(f"{p.number}  {p.title:22} {p.does}")
        jobs = f"{MAPPING_JOB}, then {p.job}" if p.store == "postgres" else p.job
        click.echo(f"   job {jobs}, gate migration/gate_{p.number}_{p.store}")
    click.echo("A phase starts when the previous phase's gate is go (and approved, for HUBS_MIGRATION_APPROVALS).")
    click.echo(
        "`hubs migrate approve N` approves a go, `hubs migrate rollback N` undoes a phase in seconds"
        " (Dagster UI: jobs migrate_approve, migrate_rollback)."
    )


@migrate.command()
def status() -> None:
    """Each phase's latest gate decision, and what to do next."""
    conn = _connection()
    try:
        gates = {p.number: latest(conn, p.number) for p in PHASES}
    finally:
        conn.close()
    for p in PHASES:
        click.echo(gate_lines(p, gates[p.number])[0])
    click.echo(next_step(gates))


@migrate.command(name="run")
@click.argument("number", type=int)
@click.option(
    "--sweep", is_flag=True, help="Phase 1: read every legacy row, not only those updated since the last run."
)
def run_phase(number: int, sweep: bool) -> None:
    """Run phase NUMBER and its gate; exit 1 on a no-go."""
    try:
        chosen = phase(number)
        conn = _connection()
        try:
            require_open(conn, number)
        finally:
            conn.close()
    except PhaseBlocked as exc:
        raise click.ClickException(str(exc)) from None
    ops = (
        {"land_files": {"config": {"legacy": "sweep" if sweep else "changes"}}} if chosen.store == "postgres" else None
    )
    outcome = run_reported(MAPPING_JOB) if chosen.store == "postgres" else None
    if outcome is None or succeeded(outcome):
        outcome = run_reported(chosen.job, ops=ops)
    from hubs.migrate.gates import abandon

    conn = _connection()
    try:
        gate = latest(conn, number)
        if gate is None or gate.run_id != outcome.run_id:
            # The run stopped before its gate (a failed step or blocking check): that is a no-go too.
            reasons = outcome.failures + [f"failed check {name}" for name in outcome.checks_failed]
            reasons = reasons or ["the run ended before its gate"]
            gate = record(conn, number, outcome.run_id, reasons, abandon(conn, chosen.store, outcome.run_id, reasons))
    finally:
        conn.close()
    for line in gate_lines(chosen, gate):
        click.echo(line)
    if not gate.go:
        sys.exit(1)


@migrate.command(name="approve")
@click.argument("number", type=int)
@click.option("--by", default=getpass.getuser, show_default="the current user", help="Who approves.")
def approve_phase(number: int, by: str) -> None:
    """Approve phase NUMBER's go (required before the next phase when HUBS_MIGRATION_APPROVALS names it)."""
    conn = _connection()
    try:
        gate = approve(conn, number, by)
    except PhaseBlocked as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    click.echo(f"phase {number}'s go ({gate.decided_at:%Y-%m-%d %H:%M:%S}) approved by {gate.approved_by}")


@migrate.command(name="rollback")
@click.argument("number", type=int)
def rollback_phase(number: int) -> None:
    """Return phase NUMBER's store to what it was before the phase last ran.

    Phases 2-5 switch their store back to the generation published before; phase 1 restores the
    record from the copy taken before its run, and rolls back the later phases whose stores read
    what it took back."""
    from hubs.settings import load

    conn = _connection()
    try:
        done = roll_back(conn, load(), number)
    except PhaseBlocked as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    for line in done.done_lines():
        click.echo(line)
    for line in done.stale_lines():
        click.echo(line, err=True)
    click.echo(f"`hubs migrate run {number}` writes it anew")


@migrate.command()
@click.option("--json", "as_json", is_flag=True, help="The gates and their evidence as JSON.")
def report(as_json: bool) -> None:
    """The go / no-go report: every phase's latest gate, its reasons and its evidence."""
    conn = _connection()
    try:
        gates = {p.number: latest(conn, p.number) for p in PHASES}
    finally:
        conn.close()
    if as_json:
        shown = {n: None if g is None else {**g.__dict__, "go": g.go} for n, g in gates.items()}
        click.echo(json.dumps(shown, indent=2, default=str))
        return
    for p in PHASES:
        for line in gate_lines(p, gates[p.number]):
            click.echo(line)
    click.echo(next_step(gates))
