"""`hubs demo` a second time against the first, and what storing Dagster's events costs in it.
Not a test: it prints (and saves) seconds and ratios.

    python benchmarks/demo_rerun.py [--scale 0.04] [--home DIR] [--out FILE]

Runs `hubs demo` twice in a fresh HUBS_HOME (its servers on the default ports, stopped at the
end with `hubs down`), as a new user would: the second run lands nothing new, builds nothing and
syncs nothing, so what it costs is the platform's fixed price. Then it stores the second run's
own events again, one by one, into an empty copy of Dagster's SQLite event log
(`SqliteEventLogStorage`, the baseline) and of the one the platform uses
(hub_assets/sqlite_events.py), side by side in the same run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dagster import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes import deserialize_value

from hub_assets.sqlite_events import PooledSqliteEventLogStorage
from hubs.cli.data import DEMO_SCALE

RESULTS = Path(__file__).resolve().parent / "results"


def _demo(env: dict[str, str], scale: float) -> float:
    started = time.perf_counter()
    subprocess.run(["hubs", "demo", "--scale", str(scale)], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _last_run_events(home: Path) -> list[EventLogEntry]:
    shards = [p for p in glob.glob(str(home / "dagster/storage/history/runs/*.db")) if not p.endswith("index.db")]
    newest = max(shards, key=os.path.getmtime)
    with sqlite3.connect(newest) as conn:
        rows = conn.execute("select event from event_logs order by id").fetchall()
    return [deserialize_value(event, EventLogEntry) for (event,) in rows]


def _store_all(storage_class: type[SqliteEventLogStorage], events: list[EventLogEntry]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        storage = storage_class(folder)
        started = time.perf_counter()
        for event in events:
            storage.store_event(event)
        elapsed = time.perf_counter() - started
        storage.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=DEMO_SCALE)
    parser.add_argument("--home", type=Path, help="HUBS_HOME to use (default: a new temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS / "demo_rerun.json")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="hubs-demo-rerun-"))
    if (home / "postgres").exists():
        parser.error(f"{home} holds data already: the first run must start from nothing")
    env = {**os.environ, "HUBS_HOME": str(home)}
    try:
        first = _demo(env, args.scale)
        print(f"first run  {first:7.1f} s", flush=True)
        second = _demo(env, args.scale)
        print(f"second run {second:7.1f} s  ({second / first:.0%} of the first)", flush=True)
    finally:
        subprocess.run(["hubs", "down"], env=env, check=False, stdout=subprocess.DEVNULL)

    events = _last_run_events(home)
    dagster_s = _store_all(SqliteEventLogStorage, events)
    pooled_s = _store_all(PooledSqliteEventLogStorage, events)
    print(
        f"the second run's {len(events):,} events stored again: Dagster's SQLite event log {dagster_s:.2f} s,"
        f" the platform's {pooled_s:.2f} s ({dagster_s / pooled_s:.1f}x faster)"
    )
    report = {
        "scale": args.scale,
        "cores": os.cpu_count(),
        "first_run_s": round(first, 1),
        "second_run_s": round(second, 1),
        "second_of_first": round(second / first, 3),
        "events_of_second_run": len(events),
        "events_stored_dagster_sqlite_s": round(dagster_s, 2),
        "events_stored_pooled_s": round(pooled_s, 2),
        "events_speedup": round(dagster_s / pooled_s, 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
