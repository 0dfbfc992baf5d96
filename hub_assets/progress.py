"""A console logger for people watching a run from the CLI: one short line per step, asset
and check, instead of Dagster's full event stream."""

import logging
import re
import sys
import time
from typing import TextIO

from dagster import DagsterEventType, InitLoggerContext, logger
from dagster._utils.error import SerializableErrorInfo

from hubs.secrets import scrub
from hubs.sync.stores import STORES

# Where progress lines go; the CLI points this at the terminal while it sends the tools' own
# output (dbt's log lines) to a file. None once the reader has gone (`hubs load ... | head`).
STREAM: list[TextIO | None] = [sys.stdout]


def say(text: str) -> None:
    """Print a progress line. A reader that went away (a closed pipe) ends the printing, never
    the run: the work goes on and is recorded as usual."""
    stream = STREAM[0]
    if stream is None:
        return
    try:
        print(text, file=stream, flush=True)
    except (BrokenPipeError, ValueError, OSError):  # ValueError: the stream was closed
        STREAM[0] = None


# dagster-dbt's error opens with the dbt command over several lines; dbt's own errors follow this.
DBT_ERRORS = "Errors parsed from dbt logs:"


def error_summary(error: SerializableErrorInfo | None) -> str:
    """The line of the error an operator can act on, secrets masked. Dagster wraps a step's own
    exception ("Error occurred while executing op ...") with it as the cause."""
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    if error is None:
        return "failed"
    text = error.message.strip()
    if DBT_ERRORS in text:
        lines = [line.strip() for line in text.split(DBT_ERRORS, 1)[1].splitlines() if line.strip()]
        first = f"{error.cls_name}: dbt failed: {re.sub(r' ?[.]{3,} ?', ' ', ' '.join(lines[:3]))}"
    else:
        first = text.splitlines()[0] if text else error.cls_name
    # Dagster spells the class with its module ("hubs.secrets.ConnectionFailed: ..."): drop it.
    module, found, rest = first.partition(f"{error.cls_name}:")
    if found and module.endswith(".") and " " not in module:
        first = f"{error.cls_name}:{rest}"
    return scrub(first)


class ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def _print(self, text: str) -> None:
        say(f"  {time.monotonic() - self.started:6.1f}s  {text}")

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
            self._print(f"step {event.step_key} FAILED: {error_summary(event.event_specific_data.error)}")
        elif kind == DagsterEventType.STEP_SUCCESS:
            self._print(f"step {event.step_key} done")


@logger(description="Short progress lines for the hubs CLI.")
def progress_logger(init_context: InitLoggerContext) -> logging.Logger:
    log = logging.getLogger("hubs.progress")
    log.handlers = [ProgressHandler()]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log
