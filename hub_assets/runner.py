"""Running the platform's jobs in-process (for the CLI), recorded in the same Dagster instance
that `dagster dev` shows.

However a CLI run ends (success, an exception, a closed stdout, SIGTERM, Ctrl-C) it keeps no
pool slot and is not left 'started'; before it starts, the slots of runs that ended or died
are freed (see hub_assets/pools.py); while it waits for a slot it says for whom; SIGTERM and
Ctrl-C stop it, waiting or running, within seconds (StopRequests).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
from dagster import DagsterEventType, DagsterInstance, JobDefinition
from dagster._core.events import RunFailureReason

from hub_assets import progress
from hub_assets.instance import hubs_instance
from hub_assets.origins import execute_located
from hub_assets.pools import PROCESS_TAG, PoolWait, end_run, mark_canceling, release_abandoned_runs, this_process
from hubs import settings as hubs_settings

log = logging.getLogger(__name__)

# How long a run's own code has to act on SIGTERM / Ctrl-C before it is interrupted from here,
# and how often that is repeated.
STOP_GRACE_S = 4.0
STOP_RETRY_S = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM or Ctrl-C stopped the run (recorded canceled or failed, its slots freed)."""

    def __init__(self, run_id: str, signum: int) -> None:
        super().__init__(run_id)
        self.run_id = run_id
        self.signum = signum


def _stop_children() -> None:
    """Stop the processes this one started for the run (dbt), not the embedded servers it may
    have started (they run in a session of their own and outlive the command)."""
    session = os.getsid(0)
    children = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getsid(child.pid) == session:
                child.terminate()
                children.append(child)
    _, alive = psutil.wait_procs(children, timeout=2)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


class StopRequests:
    """Notices SIGTERM and Ctrl-C whoever handles them, and makes sure they stop the run.

    While a run executes, Dagster owns the SIGINT/SIGTERM handlers: it notes a signal for the
    next step, or raises it inside the running step, where library code may swallow it
    (dagster-dbt parses dbt's output, and opens its adapter, under catch-all `except`s). The
    interpreter writes every signal it handles to the wakeup fd, whatever the handler; a thread
    here reads them. The run is marked canceling at once. If it still executes STOP_GRACE_S
    later, its child processes (dbt) are stopped and KeyboardInterrupt is raised in the main
    thread, again each STOP_RETRY_S; if even that is swallowed until STOP_GRACE_S more, the run
    is recorded canceled, its slots freed, and the process exits with 128 + the signal.
    """

    def __init__(self, instance: DagsterInstance, run_id: str, report: Callable[[str], None]) -> None:
        self.instance = instance
        self.run_id = run_id
        self.report = report
        self.signum: int | None = None
        self._since = 0.0
        self._executing = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def requested(self) -> bool:
        return self.signum is not None

    @contextlib.contextmanager
    def executing(self) -> Iterator[None]:
        """Marks the span in which the run may be interrupted from here (not its clean-up)."""
        self._executing = True
        try:
            yield
        finally:
            self._executing = False

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread receives signals (and may set the wakeup fd)
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="hubs-stop-requests", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._thread is None:
            return
        self._done.set()
        with contextlib.suppress(OSError):
            os.write(self._write, b"\0")  # wakes the thread at once (0 is no signal)
        self._thread.join()
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read)
        os.close(self._write)

    def _watch(self) -> None:
        pushed = False
        while not self._done.is_set():
            ready, _, _ = select.select([self._read], [], [], STOP_RETRY_S)
            for signum in os.read(self._read, 64) if ready else b"":
                if signum in STOP_SIGNALS and self.signum is None:
                    self.signum, self._since = signum, time.monotonic()
                    self._mark_canceling()
            waited = time.monotonic() - self._since
            if self.signum is None or not self._executing or waited < STOP_GRACE_S:
                continue
            if waited > 2 * STOP_GRACE_S:
                self._exit_now()
            if not pushed:
                self.report(f"the run did not stop within {STOP_GRACE_S:.0f}s of {self._name}: stopping it")
                _stop_children()
                pushed = True
            _interrupt_main_thread()

    @property
    def _name(self) -> str:
        return signal.Signals(self.signum).name

    def _mark_canceling(self) -> None:
        # Dagster then records the run canceled (not failed) when it stops on the signal.
        with contextlib.suppress(Exception):  # the run may not exist yet; the waiting loop marks it too
            mark_canceling(self.instance, self.run_id, f"stopped by {self._name}")

    def _exit_now(self) -> None:
        """The last resort: the run's code swallowed every interruption."""
        _stop_children()
        with contextlib.suppress(Exception):
            end_run(self.instance, self.run_id, f"stopped by {self._name}")
            self.instance.event_log_storage.free_concurrency_slots_for_run(self.run_id)
        self.report(f"run {self.run_id} stopped by {self._name}: recorded as canceled, its pool slots freed")
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(128 + self.signum)


def _interrupt_main_thread() -> None:
    """Raise KeyboardInterrupt in the main thread at its next Python instruction."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(threading.main_thread().ident), ctypes.py_object(KeyboardInterrupt)
    )


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
    #: checks that found nothing wrong but asked nothing (or not all they are for): warnings that
    #: are neither a pass nor a failure (a warning that found a problem, a refused file, is failed)
    checks_asked_nothing: list[str] = field(default_factory=list)


def _outcome(result: Any, log_file: Path) -> tuple[RunOutcome, bool]:
    """The run's outcome, and whether SIGTERM / Ctrl-C stopped it."""
    passed, failed, unasked, failures = [], [], [], []
    interrupted = False
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.passed:
                passed.append(name)
            elif progress.asked_nothing(evaluation):
                unasked.append(name)
            else:
                failed.append(name)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            failures.append(f"{event.step_key}: {progress.error_summary(event.event_specific_data.error)}")
        elif event.event_type == DagsterEventType.RUN_CANCELED:
            interrupted = True
        elif event.event_type == DagsterEventType.RUN_FAILURE:
            data = event.event_specific_data
            interrupted |= data is not None and data.failure_reason == RunFailureReason.UNEXPECTED_TERMINATION
    return RunOutcome(result.run_id, result.success, passed, failed, failures, log_file, unasked), interrupted


def run_job(job_name: str, path: str = "", quiet: bool = False, ops: dict[str, Any] | None = None) -> RunOutcome:
    """Run one of the platform's jobs in-process; `path` configures the landing step, `ops` any
    other step's config. Raises RunInterrupted on SIGTERM / Ctrl-C (see `run`)."""
    from hub_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    run_config: dict[str, Any] = {"ops": dict(ops or {})}
    if "land_files" in {node.name for node in job.graph.nodes} and "land_files" not in run_config["ops"]:
        run_config["ops"]["land_files"] = {"config": {"path": path}}
    return run(job, run_config, quiet, repository_name=defs.get_repository_def().name)


def run(
    job: JobDefinition, run_config: dict[str, Any], quiet: bool = False, repository_name: str | None = None
) -> RunOutcome:
    """Run a job in-process, its progress on stdout unless `quiet`, tools' output in
    HUBS_HOME/logs/<job>-last-run.log; recorded under the code location's `repository_name`
    when given (a job of `defs`), as a run launched from the UI is. Raises RunInterrupted
    (after recording the run and freeing its slots) when SIGTERM or Ctrl-C stopped it."""
    run_config = {**run_config, "loggers": {} if quiet else {"progress": {}}}
    log_file = hubs_settings.load().home / "logs" / f"{job.name}-last-run.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    progress.STREAM[0] = sys.stdout
    run_id = str(uuid.uuid4())

    def report(line: str) -> None:
        log.info(line)
        if not quiet:
            progress.say(line)

    interrupted = False
    with (
        _sigterm_as_interrupt(),
        hubs_instance() as instance,
        StopRequests(instance, run_id, report) as stops,
        log_file.open("w") as log_handle,
        redirect_stdout(log_handle),
    ):
        try:
            release_abandoned_runs(instance)
            with PoolWait(instance, run_id, report, stops.requested).installed(), stops.executing():
                # Created as the UI creates its runs, so it shows under its job and on the timeline.
                result = execute_located(
                    job, repository_name, run_config, instance, run_id, tags={PROCESS_TAG: this_process()}
                )
            outcome, interrupted = _outcome(result, log_file)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            # However the run ended, it keeps no slot and is not left 'started'.
            end_run(instance, run_id, "the run was stopped before it finished")
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    if interrupted or stops.requested():
        raise RunInterrupted(run_id, stops.signum or signal.SIGINT)
    return outcome
