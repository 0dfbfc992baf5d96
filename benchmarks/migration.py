"""A legacy system migrated through the five phases, on private embedded servers.

    python benchmarks/migration.py --scale 1 [--seed 42] [--keep]

Stages: generate the legacy system (database `legacy`), extract it (postgres_fdw through the dbt
mapping views into landing), then each phase's job with its gate. The baseline, measured in the
same run on the same server, is a bare binary COPY of every legacy table out of the legacy
database and into the hubs database: the cost of moving the rows once, so extraction's ratio to
it says what mapping, hashing and bookkeeping cost on top. Writes
benchmarks/results/migration-<scale>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stores import prepare_environment, stop_servers  # noqa: E402


def bare_copy(legacy_url: str, hubs_url: str, tables: list[str]) -> tuple[int, float]:
    """Every legacy table copied (binary COPY out, COPY in) into schema bench of the hubs database:
    rows and seconds."""
    import psycopg2

    source, target = psycopg2.connect(legacy_url), psycopg2.connect(hubs_url)
    rows = 0
    try:
        with source.cursor() as out, target.cursor() as into:
            into.execute("create schema bench")
            started = time.perf_counter()
            for table in tables:
                into.execute(f"create table bench.{table} (like legacy_src.{table})")
                buffer = io.BytesIO()
                out.copy_expert(f"copy public.{table} to stdout (format binary)", buffer)
                buffer.seek(0)
                into.copy_expert(f"copy bench.{table} from stdin (format binary)", buffer)
                rows += into.rowcount
            target.commit()
            seconds = time.perf_counter() - started
            into.execute("drop schema bench cascade")
        target.commit()
    finally:
        source.close()
        target.close()
    return rows, seconds


def _reader(store: str, stop: threading.Event, seen: dict) -> None:
    """Reads the store's published generation again and again (resolving the pointer each time, as a
    new reader does): how many reads, and any that failed."""
    from hubs import settings as hubs_settings
    from hubs.catalog import load_catalog
    from hubs.sync.stores import opened

    settings, catalog = hubs_settings.load(), load_catalog()
    while not stop.is_set():
        try:
            with opened(store, settings, catalog) as handle:
                seen["sizes"].add(tuple(sorted(handle.size(catalog).items())))
            seen["reads"] += 1
        except Exception as exc:  # a read the switch broke: counted, never hidden
            seen["errors"].append(repr(exc)[:200])


def _record_reader(url: str, unit: str, stop: threading.Event, seen: dict) -> None:
    """Reads one tractor's make and the tractor count from the record again and again (autocommit,
    as a reader does): what it saw, and any read that failed."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            while not stop.is_set():
                try:
                    cur.execute(
                        "select (select make from hub3_origin.tractors where unit_number = %s),"
                        " (select count(*) from hub3_origin.tractors)",
                        (unit,),
                    )
                    seen["sizes"].add(cur.fetchone())
                    seen["reads"] += 1
                except Exception as exc:  # a read the restore broke: counted, never hidden
                    seen["errors"].append(repr(exc)[:200])
    finally:
        conn.close()


def _timed_rollback(settings: object, number: int, reader: threading.Thread, seen: dict, stop: threading.Event) -> dict:
    from hubs.db import connect
    from hubs.migrate.phases import roll_back

    reader.start()
    time.sleep(1.0)
    conn = connect(settings)
    done = roll_back(conn, settings, number)
    conn.close()
    time.sleep(1.0)
    stop.set()
    reader.join()
    return {
        "seconds": round(done.seconds, 4),
        "generation_now": done.generation,
        "reads_during": seen["reads"],
        "answers_seen": sorted(map(str, seen["sizes"])),
        "read_errors": seen["errors"][:5],
        "followed": [f"{f.phase} {f.store}" for f in done.followed],
    }


def rollbacks(settings: object, legacy_url: str, hubs_url: str) -> dict:
    """Each phase run a second time (phase 1 after a legacy truck changed its make; a new generation
    each), then rolled back in reverse order, timed, while a reader reads that store (phase 1: the
    truck's make and the tractor count, which must be the new or the old answer, never a half)."""
    import psycopg2

    from hub_assets.runner import run_job
    from hubs.catalog import load_catalog
    from hubs.db import connect
    from hubs.migrate.phases import MAPPING_JOB, PHASES
    from hubs.sync import record_generation

    timings: dict = {}
    conn = psycopg2.connect(legacy_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "update trucks set make = 'Rolled Back Motors', updated_at = now()"
            " where truck_id = (select min(truck_id) from trucks where not deleted) returning unit_no"
        )
        [raw_unit] = cur.fetchone()
    conn.close()
    unit = raw_unit.strip().lstrip("#").lower().removeprefix("unit").strip(" #").upper()
    conn = connect(settings)
    started = time.perf_counter()
    copied = record_generation.snapshot(conn, load_catalog(), 9999)  # what each phase-1 run costs first
    timings["record copy (each phase 1 run)"] = {"seconds": round(time.perf_counter() - started, 3), "rows": copied}
    record_generation.drop(conn, 9999)
    conn.close()
    assert run_job(MAPPING_JOB, quiet=True).success
    assert run_job(PHASES[0].job, quiet=True, ops={"land_files": {"config": {"legacy": "changes"}}}).success
    for phase in PHASES[1:]:
        assert run_job(phase.job, quiet=True).success, phase.job
    for phase in reversed(PHASES[1:]):
        seen: dict = {"reads": 0, "errors": [], "sizes": set()}
        stop = threading.Event()
        reader = threading.Thread(target=_reader, args=(phase.store, stop, seen))
        timings[f"{phase.number} {phase.store}"] = _timed_rollback(settings, phase.number, reader, seen, stop)
    seen = {"reads": 0, "errors": [], "sizes": set()}
    stop = threading.Event()
    reader = threading.Thread(target=_record_reader, args=(hubs_url, unit, stop, seen))
    timings["1 postgres"] = _timed_rollback(settings, 1, reader, seen, stop)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="leave the servers running")
    args = parser.parse_args()

    home = prepare_environment()

    from hub_assets.runner import run_job
    from hubs import settings as hubs_settings
    from hubs.catalog import dbt_executable, load_catalog
    from hubs.db import connect
    from hubs.generate import build_rows
    from hubs.generate.legacy import TABLES, build_legacy, create_database, write_legacy
    from hubs.landing.schema import ensure_landing
    from hubs.migrate.extract import extract_legacy
    from hubs.migrate.foreign import attach
    from hubs.migrate.phases import PHASES, latest
    from hubs.servers import ensure_running
    from hubs.settings import DBT_PROJECT_DIR

    settings = hubs_settings.load()
    ensure_running(settings, settings.embedded_servers_needed())
    stages: dict[str, float] = {}
    result: dict = {"scale": args.scale, "seed": args.seed}
    try:
        started = time.perf_counter()
        conn = create_database(settings.effective_legacy_url)
        written = write_legacy(conn, build_legacy(build_rows(args.scale, args.seed), args.seed))
        conn.close()
        stages["generate legacy system"] = time.perf_counter() - started
        result["legacy_rows"] = written

        conn = connect(settings)
        with conn.cursor() as cur:
            ensure_landing(cur, load_catalog())
        conn.commit()
        attach(conn, settings.effective_legacy_url)
        conn.close()
        copied, copy_seconds = bare_copy(settings.effective_legacy_url, settings.effective_postgres_url, list(TABLES))
        stages["baseline: bare COPY of the legacy tables"] = copy_seconds

        started = time.perf_counter()
        subprocess.run(
            [dbt_executable(), "build", "--select", "tag:legacy", "--profiles-dir", str(DBT_PROJECT_DIR)],
            cwd=DBT_PROJECT_DIR,
            check=True,
            capture_output=True,
        )
        stages["build the mapping views"] = time.perf_counter() - started
        started = time.perf_counter()
        extracted = extract_legacy(settings, load_catalog(), "changes")
        stages["extract (first copy)"] = time.perf_counter() - started
        landed = sum(r.rows for r in extracted)
        started = time.perf_counter()
        extract_legacy(settings, load_catalog(), "changes")
        stages["extract again, nothing changed"] = time.perf_counter() - started
        started = time.perf_counter()
        extract_legacy(settings, load_catalog(), "sweep")
        stages["sweep, nothing changed"] = time.perf_counter() - started

        gates = {}
        for phase in PHASES:
            ops = {"land_files": {"config": {"legacy": "changes"}}} if phase.store == "postgres" else None
            started = time.perf_counter()
            outcome = run_job(phase.job, quiet=True, ops=ops)
            stages[f"phase {phase.number} {phase.store} (job and gate)"] = time.perf_counter() - started
            conn = connect(settings)
            gate = latest(conn, phase.number)
            conn.close()
            gates[phase.number] = {"decision": gate.decision if gate else None, "reasons": gate.reasons if gate else []}
            if not outcome.success:
                print(f"phase {phase.number} failed: {outcome.failures} {outcome.checks_failed}")
                break
        result.update(
            stages={k: round(v, 3) for k, v in stages.items()},
            gates=gates,
            extraction={
                "legacy_rows": sum(written.values()),
                "landed_rows": landed,
                "rows_per_second": round(sum(written.values()) / stages["extract (first copy)"]),
                "bare_copy_rows_per_second": round(copied / copy_seconds),
                "ratio_to_bare_copy": round(stages["extract (first copy)"] / copy_seconds, 2),
            },
        )
        if all(g["decision"] == "go" for g in gates.values()):
            result["rollback"] = rollbacks(settings, settings.effective_legacy_url, settings.effective_postgres_url)
    finally:
        if args.keep:
            print(f"servers left running, data in {home}")
        else:
            stop_servers(settings, home)
    for name, seconds in stages.items():
        print(f"{name:45} {seconds:9.2f} s")
    print(json.dumps({"extraction": result.get("extraction"), "rollback": result.get("rollback")}, indent=2))
    out = ROOT / "benchmarks" / "results" / f"migration-{args.scale:g}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
