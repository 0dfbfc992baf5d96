"""Concurrency pools (limits in dagster.yaml), and keeping their slots from wedging.

Steps that write PostgreSQL take the one slot of the hubs_postgres_writers pool. Dagster 1.13
frees a slot when the step that claimed it reports its end, so a run whose process stopped
short (a closed pipe, a kill) kept its slot, and its in-process executor waits for a slot in a
loop that never sleeps, never acts on SIGTERM or Ctrl-C and says nothing: every later run hung
silently. Here a slot never outlives its run (`release_abandoned_runs`, called before a CLI
run, while it waits, and by the inbox sensor), and a CLI run waits the `PoolWait` way.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import psutil
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

# Landing and dbt both write the system of record and move its watermarks: one at a time.
POSTGRES_WRITERS = "hubs_postgres_writers"

# Which process runs an in-process run: "<host>:<pid>:<start time>" (pids get reused; a shared
# Dagster storage may hold runs of CLI processes on other machines, which are never judged here).
PROCESS_TAG = "hubs/process"
# How often a waiting run re-checks for abandoned holders and repeats what it waits for.
WAIT_REPORT_S = 10.0
# The sleep between two looks at the pool (and at a pending SIGTERM / Ctrl-C).
WAIT_POLL_S = 0.5
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.0f}"


def _alive(process: str) -> bool:
    """Whether the process a PROCESS_TAG names still runs (assumed so on another machine)."""
    *host, pid, started = process.split(":")
    if host and host[0] != socket.gethostname():
        return True
    try:
        return f"{psutil.Process(int(pid)).create_time():.0f}" == started
    except (psutil.Error, ValueError):
        return False


def _abandoned(instance: DagsterInstance, run_id: str) -> bool:
    """A run that can no longer use a slot: gone, ended, or run by a CLI process that died."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return True
    process = run.tags.get(PROCESS_TAG)
    return bool(process) and not _alive(process)


def end_run(instance: DagsterInstance, run_id: str, message: str) -> None:
    """Record an unfinished run as ended: canceled if it was being canceled, else failed."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        return
    if run.status == DagsterRunStatus.CANCELING:
        instance.report_run_canceled(run, message=message)
    else:
        instance.report_run_failed(run, message=message)


def mark_canceling(instance: DagsterInstance, run_id: str, message: str) -> None:
    """Record that the run is being stopped on request (Dagster then ends it as canceled)."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished and run.status != DagsterRunStatus.CANCELING:
        instance.report_run_canceling(run, message=message)


def release_abandoned_runs(instance: DagsterInstance) -> list[str]:
    """Free every pool slot (held or queued for) of a run that can no longer use it, and record
    the unfinished runs of dead CLI processes as failed. Returns the runs released."""
    storage = instance.event_log_storage
    users: set[str] = set()
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        users |= {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}
    orphans = {
        run.run_id
        for run in instance.get_runs(RunsFilter(statuses=UNFINISHED))
        if run.tags.get(PROCESS_TAG) and not _alive(run.tags[PROCESS_TAG])
    }
    released = sorted(run_id for run_id in users | orphans if _abandoned(instance, run_id))
    for run_id in released:
        end_run(instance, run_id, "the hubs process running it ended before the run did")
        storage.free_concurrency_slots_for_run(run_id)
    return released


def _holder(instance: DagsterInstance, run_id: str, since: datetime | None) -> str:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"run {run_id[:8]} (deleted)"
    process = run.tags.get(PROCESS_TAG)
    where = f"pid {process.split(':')[-2]}" if process else "a Dagster run worker"
    when = f", since {since.astimezone():%H:%M:%S}" if since else ""
    return f"run {run_id[:8]} (job {run.job_name}, {where}{when})"


def waiting_for(instance: DagsterInstance, run_id: str) -> str | None:
    """What the run waits for, in a line: the pool, who holds its slots and who queues first;
    None when it waits for nothing (or its slot is free and about to be taken)."""
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
            return None
        line = f"waiting for pool {pool} ({info.limit} slot{'s' if info.limit != 1 else ''}): "
        line += f"held by {'; '.join(holders)}" if holders else "no slot free"
        if ahead:
            line += f"; {len(ahead)} run(s) queued before this one"
        return line
    return None


@dataclass
class PoolWait:
    """How a CLI run waits for a pool slot: it sleeps between looks, frees the slots of holders
    that died meanwhile, says whom it waits for every WAIT_REPORT_S, and stops when `stopping`
    says so (SIGTERM, Ctrl-C): Dagster would only act on those at the start of the next step."""

    instance: DagsterInstance
    run_id: str
    report: Callable[[str], None]
    stopping: Callable[[], bool]
    started: float = field(default_factory=time.monotonic)
    next_report: float = 0.0

    def check(self) -> None:
        """Called on every turn of the executor's wait loop."""
        if self.stopping():
            mark_canceling(self.instance, self.run_id, "stopped while waiting for a pool slot")
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
        """While a run executes in this process, Dagster's wait loop asks this object how long
        to sleep between two looks at the pool."""
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
