"""The event log that keeps its SQLite connections open (hub_assets/sqlite_events.py) stores and
reads what Dagster's own does, sees other processes' writes at once, and closes what it keeps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, AssetMaterialization, DagsterEvent, DagsterEventType, EventLogEntry
from dagster._core.events import StepMaterializationData
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage

from hub_assets import sqlite_events
from hub_assets.sqlite_events import PooledSqliteEventLogStorage
from hubs.settings import PROJECT_ROOT


def _materialization(run_id: str, asset: str) -> EventLogEntry:
    event = DagsterEvent(
        DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="refresh",
        event_specific_data=StepMaterializationData(AssetMaterialization(AssetKey.from_user_string(asset))),
    )
    return EventLogEntry(
        error_info=None, level="INFO", user_message="", run_id=run_id, timestamp=1.0, dagster_event=event
    )


def _assets(storage: SqliteEventLogStorage, run_id: str) -> list[str]:
    return [e.dagster_event.asset_key.to_user_string() for e in storage.get_logs_for_run(run_id) if e.dagster_event]


def _store_in_another_process(folder: Path, run_id: str) -> None:
    code = (
        "import sys; from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage;"
        " from tests.test_sqlite_events import _materialization;"
        " SqliteEventLogStorage(sys.argv[1]).store_event(_materialization(sys.argv[2], 'from_another'))"
    )
    subprocess.run([sys.executable, "-c", code, str(folder), run_id], check=True, cwd=PROJECT_ROOT, timeout=120)


def test_what_it_stores_another_process_reads_and_what_another_stores_it_reads(tmp_path: Path) -> None:
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    pooled.store_event(_materialization("run-a", "landing/files"))
    pooled.store_event(_materialization("run-a", "hub3_origin/tractors"))
    # Dagster's own storage on the same folder (the webserver's view) reads both, committed.
    plain = SqliteEventLogStorage(str(tmp_path))
    assert _assets(plain, "run-a") == ["landing/files", "hub3_origin/tractors"]
    assert plain.get_latest_materialization_events([AssetKey(["hub3_origin", "tractors"])])

    # A write by another process shows through the connection kept open since.
    _store_in_another_process(tmp_path, "run-a")
    assert _assets(pooled, "run-a")[-1] == "from_another"
    pooled.dispose()


def test_it_keeps_a_few_shards_open_and_closes_them_on_dispose_and_wipe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sqlite_events, "OPEN_SHARDS", 3)
    pooled = PooledSqliteEventLogStorage(str(tmp_path))
    for n in range(6):
        pooled.store_event(_materialization(f"run-{n}", "cache/keys"))
    assert len(pooled._engines) == 3
    # A run whose engine was closed is read again, reopened.
    assert _assets(pooled, "run-0") == ["cache/keys"]
    assert all(pid == os.getpid() for pid, _ in pooled._engines)

    pooled.wipe()  # run shards' files go, their engines closed first; the index is emptied, and kept
    assert [shard for _, shard in pooled._engines] == [INDEX_SHARD_NAME]
    assert not list(tmp_path.glob("run-*.db"))
    pooled.store_event(_materialization("run-9", "graph/replica"))
    assert _assets(pooled, "run-9") == ["graph/replica"]
    pooled.dispose()
    assert not pooled._engines
