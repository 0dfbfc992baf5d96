"""A console logger for people watching a run from the CLI: one short line per step, asset
and check, instead of Dagster's full event stream."""

import logging
import re
import sys
import time
from typing import Any, TextIO

from dagster import AssetCheckSeverity, DagsterEventType, InitLoggerContext, logger
from dagster._utils.error import SerializableErrorInfo

from hub_assets.dbt.order import UNCHANGED_KEY
from hubs.checks.base import ASKED_NOTHING
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


def asked_nothing(evaluation: Any) -> bool:
    """A store check's warning that it had nothing to ask (hubs.checks.base), told apart from a
    warning that found a problem by the note it carries."""
    return evaluation.severity == AssetCheckSeverity.WARN and ASKED_NOTHING in evaluation.metadata


class StepTally:
    """What a step built and which checks passed: said in one line when the step ends, instead
    of a line per asset (a landing step materializes 46, the dbt step over a hundred)."""

    def __init__(self) -> None:
        self.built = 0
        self.unchanged = 0
        self.passed = 0

    def summary(self) -> str:
        parts = [f"{self.built} asset{'' if self.built == 1 else 's'} built"] if self.built else []
        parts += [f"{self.unchanged} unchanged"] if self.unchanged else []
        parts += [f"{self.passed} check{'' if self.passed == 1 else 's'} passed"] if self.passed else []
        return f" ({', '.join(parts)})" if parts else ""


class ProgressHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()
        self.steps: dict[str, StepTally] = {}

    def _print(self, text: str) -> None:
        say(f"  {time.monotonic() - self.started:6.1f}s  {text}")

    def _tally(self, step_key: str | None) -> StepTally:
        return self.steps.setdefault(step_key or "", StepTally())

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
            self._materialized(event)
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if evaluation.passed:
                self._tally(event.step_key).passed += 1
            elif asked_nothing(evaluation):
                self._print(f"  check asked nothing: {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
            else:
                self._print(f"  check FAILED: {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
        elif kind == DagsterEventType.STEP_FAILURE:
            tally = self.steps.pop(event.step_key or "", StepTally()).summary()
            self._print(f"step {event.step_key} FAILED{tally}: {error_summary(event.event_specific_data.error)}")
        elif kind == DagsterEventType.STEP_SUCCESS:
            self._print(f"step {event.step_key} done{self.steps.pop(event.step_key or '', StepTally()).summary()}")

    def _materialized(self, event: Any) -> None:
        metadata = event.event_specific_data.materialization.metadata
        if UNCHANGED_KEY in metadata:
            self._tally(event.step_key).unchanged += 1
            return
        self._tally(event.step_key).built += 1
        # A store step's whole-store asset says what the sync did; worth its own line.
        path = event.asset_key.path
        if path[0] in STORES and len(path) == 2 and "upserted" in metadata and "deleted" in metadata:
            self._print(
                f"  {event.asset_key.to_user_string()}: {metadata['upserted'].value:,} upserted,"
                f" {metadata['deleted'].value:,} deleted"
            )


@logger(description="Short progress lines for the hubs CLI.")
def progress_logger(init_context: InitLoggerContext) -> logging.Logger:
    log = logging.getLogger("hubs.progress")
    log.handlers = [ProgressHandler()]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log
