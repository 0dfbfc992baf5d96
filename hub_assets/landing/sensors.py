"""Files dropped into the inbox start a refresh: landing, then everything downstream."""

import hashlib
import json

from dagster import (
    DagsterInvariantViolationError,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from hub_assets.jobs import refresh_job
from hub_assets.pools import release_abandoned_runs
from hubs import settings as hubs_settings


def _free_abandoned_slots(context: SensorEvaluationContext) -> None:
    """A CLI run killed outright (SIGKILL, a lost terminal) cannot free its pool slot: the
    sensor frees it within a tick, so runs started from the UI never wait for a dead run."""
    try:
        instance = context.instance
    except DagsterInvariantViolationError:  # evaluated without an instance (a unit test)
        return
    release_abandoned_runs(instance)


@sensor(job=refresh_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING)
def inbox_sensor(context: SensorEvaluationContext) -> RunRequest | SkipReason:
    _free_abandoned_slots(context)
    inbox = hubs_settings.load().inbox_dir
    if not inbox.is_dir():
        return SkipReason(f"no inbox folder at {inbox}")
    # Size and mtime tell new or rewritten files apart without reading them; the loader
    # skips what it has landed before (by checksum), so a false alarm costs one quick run.
    # Links are seen (lstat, never followed) so the run records their refusal.
    current = {
        p.name: [p.lstat().st_size, p.lstat().st_mtime_ns]
        for p in sorted(inbox.iterdir())
        if (p.is_file() or p.is_symlink()) and not p.name.startswith(".")
    }
    seen = json.loads(context.cursor) if context.cursor else {}
    changed = sorted(name for name, sig in current.items() if seen.get(name) != sig)
    if not changed:
        return SkipReason("no new or changed files in the inbox")
    context.update_cursor(json.dumps(current))
    run_key = hashlib.sha256(json.dumps({n: current[n] for n in changed}).encode()).hexdigest()[:16]
    return RunRequest(
        run_key=run_key,
        run_config={"ops": {"land_files": {"config": {"path": str(inbox)}}}},
        tags={"hubs/trigger": "inbox", "hubs/files": ",".join(changed)[:200]},
    )
