"""A console logger for people watching a run from the CLI: one short line per step, asset
and check, instead of Dagster's full event stream."""

import logging
import sys
import time
from typing import TextIO

from dagster import DagsterEventType, InitLoggerContext, logger

from hubs.sync.stores import STORES

# Where progress lines go; the CLI points this at the terminal while it sends the tools' own
# output (dbt's log lines) to a file.
STREAM: list[TextIO] = [sys.stdout]


class ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def _print(self, text: str) -> None:
        print(f"  {time.monotonic() - self.started:6.1f}s  {text}", file=STREAM[0], flush=True)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            # The step's own messages: the loader's per-file lines and any warning.
            if record.levelno >= logging.WARNING or meta.get("step_key") == "land_files":
                self._print(str(meta.get("orig_message") or record.getMessage()))
            return
        kind = event.event_type
        if kind == DagsterEventType.STEP_START:
            self._print(f"step {event.step_key} started")
        elif kind == DagsterEventType.ASSET_MATERIALIZATION:
            # A store step materializes one asset per entity; its whole-store asset says it all.
            path = event.asset_key.path
            if path[0] in STORES and len(path) == 3:
                return
            line = f"  built {event.asset_key.to_user_string()}"
            if path[0] in STORES:
                metadata = event.event_specific_data.materialization.metadata
                line += f" ({metadata['upserted'].value:,} upserted, {metadata['deleted'].value:,} deleted)"
            self._print(line)
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            verdict = "passed" if evaluation.passed else "FAILED"
            self._print(f"  check {verdict}: {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
        elif kind == DagsterEventType.STEP_FAILURE:
            error = event.event_specific_data.error
            self._print(f"step {event.step_key} FAILED: {error.message.strip() if error else ''}")
        elif kind == DagsterEventType.STEP_SUCCESS:
            self._print(f"step {event.step_key} done")


@logger(description="Short progress lines for the hubs CLI.")
def progress_logger(init_context: InitLoggerContext) -> logging.Logger:
    log = logging.getLogger("hubs.progress")
    log.handlers = [ProgressHandler()]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log
