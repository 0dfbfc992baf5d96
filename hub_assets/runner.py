"""Running the platform's jobs in-process (for the CLI), recorded in the same Dagster
instance that `dagster dev` shows."""

import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import DagsterEventType

from hub_assets import progress
from hub_assets.instance import hubs_instance
from hubs import settings as hubs_settings


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    checks_passed: list[str]
    checks_failed: list[str]
    failures: list[str]
    log_file: Path


def run_job(job_name: str, path: str = "", quiet: bool = False) -> RunOutcome:
    from hub_assets.definitions import defs

    run_config: dict[str, Any] = {"ops": {"land_files": {"config": {"path": path}}}}
    run_config["loggers"] = {} if quiet else {"progress": {}}
    job = defs.resolve_job_def(job_name)
    log_file = hubs_settings.load().home / "logs" / f"{job_name}-last-run.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    progress.STREAM[0] = sys.stdout
    with hubs_instance() as instance, log_file.open("w") as log, redirect_stdout(log):
        result = job.execute_in_process(run_config=run_config, instance=instance, raise_on_error=False)
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
