"""Running the platform's jobs in-process (for the CLI), recorded in the same Dagster instance
that `dagster dev` shows.

Steps that write PostgreSQL take the one slot of the hubs_postgres_writers pool. Dagster 1.13
keeps a slot until the step that claimed it reports its end, and its in-process executor
waits for a slot in a loop that never sleeps, never acts on SIGTERM or Ctrl-C (it only notes
them for the next step) and says nothing. So a run whose process stopped short (a closed
pipe, a kill) kept its slot and every later run hung silently. Here:

* a slot never outlives its run: before a run starts, and while it waits, every slot held by
  a run that has ended or whose process is gone is freed; a run frees its own slots on the way
  out, however it ends;
* a run that waits for a slot says which run holds it (job, pid, since when), and repeats it;
* SIGTERM and Ctrl-C stop a waiting run at once and a running one at its step's next
  interruption point; the run is recorded canceled (or failed) with its slots freed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.events import RunFailureReason
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._utils.interrupts import check_captured_interrupt

from hub_assets import progress
from hub_assets.instance import hubs_instance
from hubs import settings as hubs_settings

log = logging.getLogger(__name__)

# Which process runs an in-process run: "<pid>:<start time>" (pids get reused).
PROCESS_TAG = "hubs/process"
# How often a waiting run re-checks for abandoned holders and repeats what it waits for.
WAIT_REPORT_S = 10.0
# Longest sleep between two looks at the pool (and at a pending SIGTERM / Ctrl-C).
WAIT_POLL_S = 0.5
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM or Ctrl-C stopped the run (recorded canceled or failed, its slots freed)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id


def _this_process() -> str:
    return f"{os.getpid()}:{psutil.Process().create_time():.0f}"


def _alive(process: str) -> bool:
    pid, started = process.split(":")
    try:
        return f"{psutil.Process(int(pid)).create_time():.0f}" == started
    except psutil.Error:
        return False


def _abandoned(instance: DagsterInstance, run_id: str) -> bool:
    """A run that can no longer use a slot: gone, ended, or run by a CLI process that died."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return True
    process = run.tags.get(PROCESS_TAG)
    return bool(process) and not _alive(process)


def _end(instance: DagsterInstance, run_id: str, message: str) -> None:
    """Record an unfinished run as ended: canceled if it was being canceled, else failed."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return
    if run.status == DagsterRunStatus.CANCELING:
        instance.report_run_canceled(run, message=message)
    else:
        instance.report_run_failed(run, message=message)


def release_abandoned_runs(instance: DagsterInstance) -> list[str]:
    """Free every pool slot (held or queued for) of a run that can no longer use it, and record
    the unfinished runs of dead CLI processes as failed. Returns the runs released."""
    storage = instance.event_log_storage
    holders: set[str] = set()
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        holders |= {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}
    orphans = {
        run.run_id
        for run in instance.get_runs(RunsFilter(statuses=UNFINISHED))
        if run.tags.get(PROCESS_TAG) and not _alive(run.tags[PROCESS_TAG])
    }
    released = sorted(run_id for run_id in holders | orphans if _abandoned(instance, run_id))
    for run_id in released:
        _end(instance, run_id, "the hubs process running it ended before the run did")
        storage.free_concurrency_slots_for_run(run_id)
    return released


def _holder(instance: DagsterInstance, run_id: str, since: datetime | None) -> str:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"run {run_id[:8]} (deleted)"
    process = run.tags.get(PROCESS_TAG)
    where = f"pid {process.split(':')[0]}" if process else "a Dagster run worker"
    when = f", since {since.astimezone():%H:%M:%S}" if since else ""
    return f"run {run_id[:8]} (job {run.job_name}, {where}{when})"


def waiting_for(instance: DagsterInstance, run_id: str) -> str | None:
    """What the run waits for, in a line: the pool, who holds its slots and who queues first."""
    storage = instance.event_log_storage
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        mine = [step for step in info.pending_steps if step.run_id == run_id]
        if not mine or any(slot.run_id == run_id for slot in info.claimed_slots):
            continue
        assigned = {step.run_id: step.assigned_timestamp for step in info.pending_steps}
        holders = [_holder(instance, s.run_id, assigned.get(s.run_id)) for s in info.claimed_slots if s.run_id]
        queued = [s for s in info.pending_steps if s.run_id != run_id and s.assigned_timestamp is None]
        ahead = {s.run_id for s in queued if s.enqueued_timestamp < mine[0].enqueued_timestamp}
        if not holders and not ahead:
            return None  # the slot is free: this run takes it on its next try
        line = f"waiting for pool {pool} ({info.limit} slot{'s' if info.limit != 1 else ''}): "
        line += f"held by {'; '.join(holders)}" if holders else "no slot free"
        if ahead:
            line += f"; {len(ahead)} run(s) queued before this one"
        return line
    return None


@dataclass
class PoolWait:
    """How a run waits for a pool slot (the policy Dagster's in-process executor lacks)."""

    instance: DagsterInstance
    run_id: str
    report: Callable[[str], None]
    interrupted: bool = False
    started: float = field(default_factory=time.monotonic)
    next_report: float = 0.0

    def check(self) -> None:
        """Called on every turn of the executor's wait loop."""
        if check_captured_interrupt():
            # Dagster noted SIGTERM / Ctrl-C for the next step to raise; a waiting run has none.
            self.interrupted = True
            run = self.instance.get_run_by_id(self.run_id)
            if run is not None and not run.is_finished:
                self.instance.report_run_canceling(run, message="stopped by SIGTERM or Ctrl-C while waiting for a pool")
            raise KeyboardInterrupt
        now = time.monotonic()
        if now < self.next_report:
            return
        self.next_report = now + WAIT_REPORT_S
        release_abandoned_runs(self.instance)
        reason = waiting_for(self.instance, self.run_id)
        if reason:
            waited = f" ({now - self.started:.0f}s so far)" if now - self.started >= 1 else ""
            self.report(f"{reason}{waited}; Ctrl-C stops waiting")

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """While the run executes, Dagster's wait loop sleeps between looks at the pool and
        calls `check` on each turn (it asks this method how long to sleep)."""
        original = InstanceConcurrencyContext.interval_to_next_pending_claim_check
        wait = self

        def interval(context: InstanceConcurrencyContext) -> float:
            # Dagster's own answer is min(0, ...): never a sleep. It re-claims the slot when its
            # own back-off says so; sleeping this long between turns delays that by at most this.
            wait.check()
            return WAIT_POLL_S

        InstanceConcurrencyContext.interval_to_next_pending_claim_check = interval
        try:
            yield
        finally:
            InstanceConcurrencyContext.interval_to_next_pending_claim_check = original


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C (Python's default would end the process on the spot,
    skipping every `finally`). Dagster applies the same mapping while the run executes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    checks_passed: list[str]
    checks_failed: list[str]
    failures: list[str]
    log_file: Path


def _outcome(result: Any, log_file: Path) -> tuple[RunOutcome, bool]:
    """The run's outcome, and whether it was stopped by SIGTERM / Ctrl-C."""
    passed, failed, failures = [], [], []
    interrupted = False
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            (passed if evaluation.passed else failed).append(name)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            failures.append(f"{event.step_key}: {progress.error_summary(event.event_specific_data.error)}")
        elif event.event_type == DagsterEventType.RUN_CANCELED:
            interrupted = True
        elif event.event_type == DagsterEventType.RUN_FAILURE:
            data = event.event_specific_data
            interrupted |= data is not None and data.failure_reason == RunFailureReason.UNEXPECTED_TERMINATION
    return RunOutcome(result.run_id, result.success, passed, failed, failures, log_file), interrupted


def run_job(job_name: str, path: str = "", quiet: bool = False, ops: dict[str, Any] | None = None) -> RunOutcome:
    """Run a job in-process; `path` configures the landing step, `ops` any other step's config.
    Raises RunInterrupted (after recording the run and freeing its slots) on SIGTERM / Ctrl-C."""
    from hub_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    run_config: dict[str, Any] = {"ops": dict(ops or {})}
    if "land_files" in {node.name for node in job.graph.nodes}:
        run_config["ops"]["land_files"] = {"config": {"path": path}}
    run_config["loggers"] = {} if quiet else {"progress": {}}
    log_file = hubs_settings.load().home / "logs" / f"{job_name}-last-run.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    progress.STREAM[0] = sys.stdout
    run_id = str(uuid.uuid4())

    def report(line: str) -> None:
        log.info(line)
        if not quiet:
            progress.say(line)

    wait = PoolWait(hubs_instance(), run_id, report)
    with (
        _sigterm_as_interrupt(),
        wait.instance as instance,
        log_file.open("w") as log_handle,
        redirect_stdout(log_handle),
    ):
        try:
            release_abandoned_runs(instance)
            with wait.installed():
                result = job.execute_in_process(
                    run_config=run_config,
                    instance=instance,
                    raise_on_error=False,
                    run_id=run_id,
                    tags={PROCESS_TAG: _this_process()},
                )
            outcome, interrupted = _outcome(result, log_file)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            # However the run ended (an exception, a closed stdout, SIGTERM, Ctrl-C), it keeps
            # no slot and is not left 'started'.
            _end(instance, run_id, "the run was stopped before it finished")
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    if interrupted or wait.interrupted:
        raise RunInterrupted(run_id)
    return outcome
