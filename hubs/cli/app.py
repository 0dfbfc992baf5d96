"""The `hubs` command group and what its commands share: output that survives a closed pipe,
one-line errors instead of tracebacks, servers started or found, Dagster runs reported."""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any, TextIO

import click

from hubs.catalog import CatalogError
from hubs.secrets import ConnectionFailed, install_log_scrubber, scrub
from hubs.servers import ServerError, embedded_servers
from hubs.settings import Settings

if TYPE_CHECKING:  # the runner imports Dagster: only commands that run jobs pay for it
    from hub_assets.runner import RunOutcome

# What each embedded server is called in a message, and the store that lives on it.
SERVER_ROLES = {"postgres": "PostgreSQL (system of record)", "cache": "the Redis cache", "graph": "the FalkorDB graph"}


def step(n: int, total: int, text: str) -> None:
    click.echo(f"[{n}/{total}] {text}")


def start_servers(settings: Settings) -> None:
    servers = embedded_servers(settings)
    needed = settings.embedded_servers_needed()
    for name, server in servers.items():
        if name not in needed:
            click.echo(f"  {name:9} external  (set by environment)")
            continue
        started = server.start()
        state = "started " if started else "running "
        click.echo(f"  {name:9} {state}  {server.url}  data {server.data_dir}")


def stopped_servers(settings: Settings, names: list[str] | None = None) -> list[str]:
    """The embedded servers the settings rely on (or `names` among them) that are not running."""
    needed = settings.embedded_servers_needed()
    servers = embedded_servers(settings)
    return [n for n in (needed if names is None else names) if n in needed and not servers[n].status().running]


def require_servers(settings: Settings, names: list[str]) -> None:
    """A command that only looks never starts a server: it says which one is down and what to do."""
    down = stopped_servers(settings, names)
    if down:
        what = ", ".join(f"{SERVER_ROLES[n]} (port {embedded_servers(settings)[n].port})" for n in down)
        raise click.ClickException(f"the embedded server is not running: {what}: run `hubs up`")


def up_hint(settings: Settings, server: str) -> str:
    """What to do about a server that cannot be reached: `hubs up` starts only the embedded ones."""
    return ": run `hubs up`" if server in settings.embedded_servers_needed() else ""


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
    """Errors that explain themselves (a server that cannot be reached, a mistake in the
    catalog's yml) end a command with their message instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConnectionFailed as exc:
            raise click.ClickException(scrub(str(exc))) from None
        except ServerError as exc:
            raise click.ClickException(scrub(str(exc))) from None
        except CatalogError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=HubsGroup)
def main() -> None:
    """hubs: one memory for the group's trucking companies."""
    install_log_scrubber()
    if not isinstance(sys.stdout, ReaderMayLeave):
        sys.stdout = ReaderMayLeave(sys.stdout)


def run_reported(job: str, path: str = "", ops: dict | None = None) -> RunOutcome:
    """Run a Dagster job with its progress on stdout, then its outcome in a few lines."""
    from hub_assets.runner import RunInterrupted, run_job

    try:
        outcome = run_job(job, path, ops=ops)
    except RunInterrupted as stopped:
        name = signal.Signals(stopped.signum).name
        click.echo(f"run {stopped.run_id} stopped by {name}: recorded as canceled, its pool slots freed")
        sys.exit(128 + stopped.signum)
    # "succeeded" only when the exit code says so too: a failed check fails the command.
    verdict = (
        "succeeded" if succeeded(outcome) else ("FAILED" if not outcome.success else "finished with failed checks")
    )
    passed = len(outcome.checks_passed)
    click.echo(
        f"run {outcome.run_id} {verdict}: {passed} check{'' if passed == 1 else 's'} passed,"
        f" {len(outcome.checks_failed)} failed"
        + (f", {len(outcome.checks_asked_nothing)} asked nothing" if outcome.checks_asked_nothing else "")
    )
    for name in outcome.checks_failed:
        click.echo(f"  failed check: {name}")
    for name in outcome.checks_asked_nothing:
        click.echo(f"  check that asked nothing (a warning): {name}")
    for failure in outcome.failures:
        click.echo(f"  failed step: {failure}")
    if outcome.failures or outcome.checks_failed:
        click.echo(f"  full output: {outcome.log_file}")
    return outcome


def succeeded(outcome: RunOutcome) -> bool:
    return outcome.success and not outcome.checks_failed


def run_job(job: str, path: str = "", ops: dict | None = None) -> bool:
    """Run a Dagster job with its progress on stdout; True when every step and check passed."""
    return succeeded(run_reported(job, path, ops))
