"""Running the platform's jobs in-process (for the CLI), recorded in the same Dagster
instance that `dagster dev` shows."""

import os
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from hub_assets import progress
from hub_assets.instance import hubs_instance
from hubs import settings as hubs_settings

# Which process runs an in-process run: "<pid>:<start time>" (pids get reused).
PROCESS_TAG = "hubs/process"


def _this_process() -> str:
    return f"{os.getpid()}:{psutil.Process().create_time():.0f}"


def _alive(process: str) -> bool:
    pid, started = process.split(":")
    try:
        return f"{psutil.Process(int(pid)).create_time():.0f}" == started
    except psutil.Error:
        return False


def release_abandoned_runs(instance: DagsterInstance) -> list[str]:
    """Runs whose CLI process died (killed, closed terminal) stay 'started' and keep their pool
    slots, so the next run would wait for them forever: mark them failed and free the slots."""
    released = []
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])):
        process = run.tags.get(PROCESS_TAG)
        if process and not _alive(process):
            instance.report_run_failed(run, message="the hubs process running it ended before the run did")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            released.append(run.run_id)
    return released


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    checks_passed: list[str]
    checks_failed: list[str]
    failures: list[str]
    log_file: Path


def run_job(job_name: str, path: str = "", quiet: bool = False, ops: dict[str, Any] | None = None) -> RunOutcome:
    """Run a job in-process; `path` configures the landing step, `ops` any other step's config."""
    from hub_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    run_config: dict[str, Any] = {"ops": dict(ops or {})}
    if "land_files" in {node.name for node in job.graph.nodes}:
        run_config["ops"]["land_files"] = {"config": {"path": path}}
    run_config["loggers"] = {} if quiet else {"progress": {}}
    log_file = hubs_settings.load().home / "logs" / f"{job_name}-last-run.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    progress.STREAM[0] = sys.stdout
    with hubs_instance() as instance, log_file.open("w") as log, redirect_stdout(log):
        release_abandoned_runs(instance)
        result = job.execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False, tags={PROCESS_TAG: _this_process()}
        )
        passed, failed, failures = [], [], []
        for event in result.all_events:
            if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.event_specific_data
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                (passed if evaluation.passed else failed).append(name)
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                error = event.event_specific_data.error
                failures.append(f"{event.step_key}: {error.message.strip() if error else 'failed'}")
        return RunOutcome(result.run_id, result.success, passed, failed, failures, log_file)
