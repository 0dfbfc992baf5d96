"""CLI runs and the hubs_postgres_writers pool: a slot never outlives its run, a waiting run says
what it waits for, SIGTERM and Ctrl-C stop it. Each test has its own Dagster instance (its own
HUBS_HOME) and database; the CLI runs as a subprocess, as an operator runs it."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from hub_assets.instance import hubs_instance
from hub_assets.pools import POSTGRES_WRITERS, PROCESS_TAG
from hub_assets.runner import STOP_GRACE_S

HUBS = [sys.executable, "-m", "hubs.cli"]
# Generous: a CLI start loads the definitions (~5 s); a run that hangs never ends at all.
RUN_TIMEOUT_S = 180
STOP_TIMEOUT_S = 10


@pytest.fixture
def cli_env(empty_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of the test's CLI runs (and of its own look at their Dagster instance)."""
    monkeypatch.setenv("HUBS_HOME", str(tmp_path / "home"))
    return dict(os.environ)


@pytest.fixture
def instance(cli_env: dict[str, str]) -> Iterator[DagsterInstance]:
    with hubs_instance() as opened:
        yield opened


@pytest.fixture
def live_process() -> Iterator[psutil.Process]:
    proc = subprocess.Popen(["sleep", "600"])
    yield psutil.Process(proc.pid)
    proc.kill()
    proc.wait()


def process_tag(proc: psutil.Process) -> str:
    return f"{socket.gethostname()}:{proc.pid}:{proc.create_time():.0f}"


def dead_process_tag() -> str:
    proc = subprocess.Popen(["sleep", "0.2"])
    tag = process_tag(psutil.Process(proc.pid))
    proc.wait()
    return tag


def hold_slot(instance: DagsterInstance, status: DagsterRunStatus, process: str) -> str:
    """A run in `status`, run by `process`, that holds (or queues for) the writers' slot."""
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name="refresh", run_id=run_id, status=status, tags={PROCESS_TAG: process}))
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POSTGRES_WRITERS)
    storage.claim_concurrency_slot(POSTGRES_WRITERS, run_id, "land_files")
    return run_id


def pool_users(instance: DagsterInstance) -> tuple[set[str], set[str]]:
    """(runs holding a slot, runs queued for one)."""
    info = instance.event_log_storage.get_concurrency_info(POSTGRES_WRITERS)
    return {s.run_id for s in info.claimed_slots}, {s.run_id for s in info.pending_steps}


def hubs(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUBS, *args], env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


class LiveOutput:
    """A CLI run whose output is read line by line while it runs."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [*HUBS, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        self.proc.kill()
        raise AssertionError(f"no line with {text!r} within {timeout:.0f} s; output: {''.join(self.seen)}")

    def rest(self) -> str:
        self.proc.wait(timeout=5)
        time.sleep(0.1)  # let the reader drain the pipe
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


def test_a_closed_stdout_neither_fails_the_run_nor_keeps_its_slot(
    cli_env: dict[str, str], instance: DagsterInstance, generated: tuple[Path, dict]
) -> None:
    # `hubs load FILE | head -1`: the reader leaves after the first line.
    proc = subprocess.Popen(
        [*HUBS, "load", str(generated[0] / "hub3_origin.tractors.csv")], env=cli_env, stdout=subprocess.PIPE
    )
    assert proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=RUN_TIMEOUT_S) == 0
    [run] = instance.get_runs()
    assert run.status == DagsterRunStatus.SUCCESS
    assert pool_users(instance) == (set(), set())
    # ... and the next run does not wait for it.
    after = hubs(cli_env, "load", str(generated[0] / "hub3_origin.trailers.csv"))
    assert after.returncode == 0, after.stdout[-2000:] + after.stderr[-2000:]
    assert "loaded   hub3_origin.trailers.csv" in after.stdout


def test_slots_of_ended_runs_and_of_dead_processes_are_freed_before_a_run(
    cli_env: dict[str, str], instance: DagsterInstance, tmp_path: Path
) -> None:
    failed = hold_slot(instance, DagsterRunStatus.FAILURE, dead_process_tag())  # holds the one slot
    orphan = hold_slot(instance, DagsterRunStatus.STARTED, dead_process_tag())  # queued behind it
    assert pool_users(instance) == ({failed}, {failed, orphan})
    result = hubs(cli_env, "load", str(tmp_path))  # an empty folder: a run with nothing to land
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert pool_users(instance) == (set(), set())
    assert instance.get_run_by_id(orphan).status == DagsterRunStatus.FAILURE


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_waiting_run_says_what_it_waits_for_and_stops_on_a_signal(
    cli_env: dict[str, str],
    instance: DagsterInstance,
    live_process: psutil.Process,
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    holder = hold_slot(instance, DagsterRunStatus.STARTED, process_tag(live_process))
    run = LiveOutput(cli_env, "load", str(tmp_path))
    line = run.wait_for("waiting for pool", timeout=RUN_TIMEOUT_S)
    assert POSTGRES_WRITERS in line and holder[:8] in line
    assert "job refresh" in line and f"pid {live_process.pid}" in line
    stopped_at = time.monotonic()
    run.proc.send_signal(signum)
    assert run.proc.wait(timeout=STOP_TIMEOUT_S) == 128 + signum
    assert time.monotonic() - stopped_at < STOP_TIMEOUT_S
    output = run.rest()
    [ended] = [r for r in instance.get_runs() if r.run_id != holder]
    assert f"run {ended.run_id} stopped" in output
    assert ended.status == DagsterRunStatus.CANCELED
    # The stopped run queues for nothing; the live holder keeps its slot.
    assert pool_users(instance) == ({holder}, {holder})


# A step whose code swallows interruptions, as library code with a catch-all `except` does
# (dagster-dbt parsing dbt's output): "dagster" swallows Dagster's own interrupt, "all" even
# KeyboardInterrupt. The run must stop all the same.
STUBBORN_RUN = """
import sys, time
from dagster import job, op
from hub_assets.pools import POSTGRES_WRITERS
from hub_assets.runner import RunInterrupted, run

@op(pool=POSTGRES_WRITERS)
def stubborn(context):
    deadline, started = time.monotonic() + 120, False
    while time.monotonic() < deadline:
        try:
            if not started:  # said inside the loop, so every interruption after it is swallowed
                sys.stderr.write("stubborn step started\\n")
                sys.stderr.flush()
                started = True
            time.sleep(0.05)
        except BaseException as exc:
            if sys.argv[1] == "all" or type(exc).__name__ == "DagsterExecutionInterruptedError":
                continue
            raise

@job
def stubborn_job():
    stubborn()

try:
    run(stubborn_job, {}, quiet=True)
except RunInterrupted as stopped:
    sys.exit(128 + stopped.signum)
"""


@pytest.mark.parametrize("swallows", ["dagster", "all"])
def test_a_step_that_swallows_interrupts_is_stopped_all_the_same(
    cli_env: dict[str, str], instance: DagsterInstance, tmp_path: Path, swallows: str
) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN_RUN)
    proc = subprocess.Popen(
        [sys.executable, str(script), swallows], env=cli_env, stderr=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    for line in proc.stderr:  # Dagster's own log lines come first
        if "stubborn step started" in line:
            break
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=2 * STOP_GRACE_S + STOP_TIMEOUT_S) == 128 + signal.SIGTERM
    assert time.monotonic() - stopped_at < 2 * STOP_GRACE_S + STOP_TIMEOUT_S
    [run] = instance.get_runs()
    assert run.status == DagsterRunStatus.CANCELED
    assert pool_users(instance) == (set(), set())


def test_a_failed_step_is_reported_with_its_own_error() -> None:
    from dagster._utils.error import SerializableErrorInfo

    from hub_assets.progress import error_summary

    message = "hubs.secrets.ConnectionFailed: cannot connect to PostgreSQL\n"
    cause = SerializableErrorInfo(message, [], "ConnectionFailed")
    wrapped = SerializableErrorInfo(
        'dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "land_files":\n',
        [],
        "DagsterExecutionStepExecutionError",
        cause=cause,
    )
    assert error_summary(wrapped) == "ConnectionFailed: cannot connect to PostgreSQL"
    dbt = SerializableErrorInfo(
        "dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command\n\n`dbt build`\n\n"
        "failed with exit code `1`.\n\nErrors parsed from dbt logs:\n\n"
        "8 of 8 ERROR q4_3_address_links ........ [ERROR in 0.04s]\n\n"
        '  Database Error in test q4_3_address_links\n  relation "hub4_contacts.party_addresses" does not exist\n',
        [],
        "DagsterDbtCliRuntimeError",
    )
    summary = error_summary(dbt)
    assert summary.startswith("DagsterDbtCliRuntimeError: dbt failed: 8 of 8 ERROR q4_3_address_links [ERROR")
    assert summary.endswith('relation "hub4_contacts.party_addresses" does not exist')
