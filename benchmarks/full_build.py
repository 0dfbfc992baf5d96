"""Full build of the six hubs at a given scale, stage by stage, on a private embedded server.

    python benchmarks/full_build.py --scale 1 [--seed 42] [--keep]

Stages: generate the landing files, land them (COPY), build and check everything with dbt.
The baseline, measured in the same run on the same server, is a bare copy of every landing
table (`create table ... as select * from landing.<table>`): the cost of touching the data
once, so the dbt build's ratio to it says what typing, validating, quarantining, upserting
and history cost on top. Prints rows per entity and seconds per stage, and writes the
numbers as JSON next to the data (benchmarks/results/full_build-<scale>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="leave the server running (prints its URL)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hubs-bench-"))
    os.environ.update(HUBS_HOME=str(home), HUBS_POSTGRES_PORT=str(free_port()), DBT_TARGET_PATH=str(home / "dbt"))
    for name in ("HUBS_POSTGRES_URL", "HUBS_REDIS_URL", "HUBS_FALKORDB_URL"):
        os.environ.pop(name, None)

    from hubs import settings as hubs_settings
    from hubs.catalog import dbt_executable, load_catalog
    from hubs.db import connect
    from hubs.generate import generate
    from hubs.landing.loader import load_paths
    from hubs.servers import embedded_servers, ensure_running
    from hubs.settings import DBT_PROJECT_DIR
    from hubs.summary import entity_counts

    settings = hubs_settings.load()
    ensure_running(settings, ["postgres"])
    stages: dict[str, float] = {}
    try:
        started = time.perf_counter()
        generated = generate(args.scale, args.seed, home / "landing")
        stages["generate"] = time.perf_counter() - started

        catalog = load_catalog()
        started = time.perf_counter()
        results = load_paths(settings, catalog, [home / "landing"])
        stages["land"] = time.perf_counter() - started
        assert all(r.status == "loaded" for r in results), [r for r in results if r.status != "loaded"]

        conn = connect(settings, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("create schema bench")
            started = time.perf_counter()
            for entity in catalog.entities:
                cur.execute(
                    f"create table bench.{entity.landing_table} as select * from landing.{entity.landing_table}"
                )
            stages["baseline: bare copy of landing"] = time.perf_counter() - started
            cur.execute("drop schema bench cascade")
        conn.close()

        started = time.perf_counter()
        build = subprocess.run(
            [dbt_executable(), "build", "--profiles-dir", str(DBT_PROJECT_DIR)],
            cwd=DBT_PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        stages["dbt build (staging, hubs, history, checks)"] = time.perf_counter() - started
        if build.returncode != 0:
            print(build.stdout[-4000:])
            args.keep = True  # leave the data to look at
            raise SystemExit("dbt build failed")
        timings = json.loads((home / "dbt" / "run_results.json").read_text())["results"]
        by_layer: dict[str, float] = {}
        for result in timings:
            node = result["unique_id"].split(".")[-1]
            layer = (
                "tests"
                if result["unique_id"].startswith("test.")
                else "staging"
                if node.startswith("stg_")
                else "history"
                if node.endswith("_history")
                else "delete pass"
                if node == "hub_deletions"
                else "hub tables"
            )
            by_layer[layer] = by_layer.get(layer, 0.0) + result["execution_time"]

        counts = entity_counts(settings, catalog)
        wrong = {
            c.entity: (generated.expected[c.entity]["quarantined"], c.quarantined)
            for c in counts
            if c.quarantined != generated.expected[c.entity]["quarantined"]
        }
        rows = sum(generated.files.values())
        print(f"scale {args.scale:g}, seed {args.seed}: {rows:,} rows in {len(generated.files)} files\n")
        print(f"  {'entity':38} {'landed':>10} {'accepted':>10} {'quarantined':>11} {'in hub':>10}")
        for c in counts:
            print(f"  {c.entity:38} {c.landed:10,} {c.accepted:10,} {c.quarantined:11,} {c.current:10,}")
        print(f"\n  quarantine holds exactly the rows built to be bad: {wrong if wrong else 'yes'}")
        print("\n  stage                                          seconds   rows/s")
        for stage, seconds in stages.items():
            print(f"  {stage:44} {seconds:9.1f} {rows / seconds:9,.0f}")
        baseline = stages["baseline: bare copy of landing"]
        print(f"\n  dbt build / baseline copy: {stages['dbt build (staging, hubs, history, checks)'] / baseline:.1f}x")
        print(
            "  dbt node time by layer (summed over 4 threads): "
            + ", ".join(f"{k} {v:.1f}s" for k, v in sorted(by_layer.items()))
        )
        out = ROOT / "benchmarks" / "results" / f"full_build-{args.scale:g}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "scale": args.scale,
                    "seed": args.seed,
                    "rows": rows,
                    "stages": stages,
                    "dbt_layers": by_layer,
                    "entities": {c.entity: c.__dict__ for c in counts},
                },
                indent=2,
            )
            + "\n"
        )
        print(f"\n  written to {out.relative_to(ROOT)}")
    finally:
        if args.keep:
            print(f"server left running: {settings.effective_postgres_url} (HUBS_HOME={home})")
        else:
            embedded_servers(settings)["postgres"].stop()


if __name__ == "__main__":
    main()
