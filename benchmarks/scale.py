"""The whole pipeline at one scale, stage by stage: seconds, peak memory of every process, disk.

    python benchmarks/scale.py --scale 10 [--seed 42] [--stores graph,cache,vectors,timeline] [--keep]
                               [--graph-server neo4j] [--reuse HUBS_HOME]

The growth benchmark (not run in CI; scale 10 is about 20 million landed rows and takes hours on
two cores). On private embedded servers, as benchmarks/stores.py sets them up (free ports, a
temporary HUBS_HOME, the offline embedder), with no baselines: generate the landing files, land
them, build everything with dbt, sync each store in full, then change ~1% of the rows (as
stores.py does) and refresh: land the change, build what a refresh selects
(hub_assets/dbt/pending.py), sync each store incrementally.

At scale 10 the whole run takes longer than one sitting, so it can be split: `--keep` leaves the
data folder (and its servers), and `--reuse` that folder with other `--stores` skips generating,
landing and the full build (the same scale and seed: the folder holds the first run's rows, with
its 1% change; the new run makes another 1% change).

Neo4j's page cache is HUBS_NEO4J_PAGE_CACHE_MB (256 MB by default, for the tests); a scale-10
replica wants a few GB of it, and the report records what it had.

Memory, per stage, is the peak of every process that worked in it:

* this process (landing, the syncs, and Qdrant's local mode all run here): its peak
  resident set (VmHWM), reset before each stage (`clear_refs`);
* the generator and dbt, child processes: their peak resident set, from the kernel's accounting
  of each child (the generator, the test data's cost rather than the platform's, spools its bulk
  rows to disk and holds its simulation's state: ~0.3 GB per unit of scale);
* each server (PostgreSQL's processes, the cache's and the graph's redis-server, Neo4j's Java
  with `--graph-server neo4j`, which then holds the replica and the timeline): the sum of the
  proportional set sizes of the server's processes (shared memory counted once, not once per
  backend), sampled every second, its highest sample.

Disk, after the full syncs and at the end: PostgreSQL by schema (tables and their indexes) and its
whole data folder (with the write-ahead log), each redis-server's data folder and the memory it
reports in use, Qdrant's folder (and Neo4j's). Prints a table and writes
benchmarks/results/scale[-<stores>][-neo4j]-<scale>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))  # stores.py, beside this file

import stores as bench

from hub_assets.dbt.pending import pending
from hubs import settings as hubs_settings
from hubs.catalog import MANIFEST, Catalog, dbt_executable, load_catalog
from hubs.db import connect
from hubs.landing.loader import load_paths
from hubs.servers import embedded_servers, ensure_running
from hubs.servers.neo4j import Neo4jServer
from hubs.settings import DBT_PROJECT_DIR, Settings
from hubs.sync.stores import STORES, opened

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
BUILT = "stages-so-far.json"  # in HUBS_HOME: the stages a run has finished, the full build among them
SAMPLE_SECONDS = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--stores", default=",".join(STORES), help=f"comma-separated, of {', '.join(STORES)}")
    parser.add_argument("--keep", action="store_true", help="leave the servers and data folder (prints where)")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="HUBS_HOME",
        help="the data folder an earlier run at this scale left (--keep): skip generate, land and the full build",
    )
    bench.add_graph_server_option(parser)
    args = parser.parse_args()
    args.stores = bench.chosen_stores(parser, args.stores)
    if args.reuse is not None and not (args.reuse / BUILT).exists():
        parser.error(f"{args.reuse} holds no finished full build of an earlier run ({BUILT} is missing)")
    return args


# -- memory ----------------------------------------------------------------------------------------


def own_peak_mb() -> float:
    """This process's peak resident set since the last reset (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_own_peak() -> None:
    """Start this process's peak over (Linux: writing 5 to clear_refs resets VmHWM)."""
    with contextlib.suppress(OSError):  # the peak then spans the run so far, which still bounds the stage
        Path("/proc/self/clear_refs").write_text("5")


def server_mb(pid: int) -> float:
    """A server's memory: the proportional set size of its process and all its children."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_full_info().pss
        except psutil.Error:
            continue  # a backend that ended between the listing and the reading
    return total / MB


class ServerSampler(threading.Thread):
    """Samples every server's memory in the background; `peaks()` since the last `reset()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.highest: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> None:
        for name, pid in self.pids.items():
            mb = server_mb(pid)
            with self.lock:
                self.highest[name] = max(self.highest[name], mb)

    def reset(self) -> None:
        with self.lock:
            self.highest = dict.fromkeys(self.pids, 0.0)

    def peaks(self) -> dict[str, float]:
        self.sample()  # the stage's last moment counts too
        with self.lock:
            return dict(self.highest)


class Stages:
    """Each stage's seconds and the peak memory of every process that worked in it."""

    def __init__(self, sampler: ServerSampler, partial: Path) -> None:
        self.sampler = sampler
        self.partial = partial
        self.results: dict[str, dict[str, Any]] = {}

    @contextmanager
    def stage(self, name: str, **extra: Any) -> Iterator[dict[str, Any]]:
        print(f"{name} ...", flush=True)
        reset_own_peak()
        self.sampler.reset()
        record: dict[str, Any] = dict(extra)
        started = time.perf_counter()
        yield record
        record["seconds"] = time.perf_counter() - started
        memory = {"this process": own_peak_mb(), **self.sampler.peaks()}
        memory.update(record.pop("children", {}))
        record["peak_memory_mb"] = {k: round(v, 1) for k, v in memory.items()}
        self.results[name] = record
        print(f"  {record['seconds']:.1f} s, peak MB {record['peak_memory_mb']}", flush=True)
        # A run of hours should not lose what it measured to a failure in its last stage.
        self.partial.write_text(json.dumps(self.results, indent=2, default=str) + "\n")


# -- stages ----------------------------------------------------------------------------------------


# The kernel counts into a child's peak the memory its process had before it started the program
# (a fork of this process, hundreds of MB after a full sync): so a small Python starts the program
# and reports the peak of its own child.
MEASURE = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def child(command: list[str], cwd: Path, log: Path) -> tuple[bool, float]:
    """Run a command in a child process; whether it passed and its peak MB (the kernel's account)."""
    peak = log.with_suffix(".peak")
    with log.open("w") as out:
        process = subprocess.run(
            [sys.executable, "-c", MEASURE, str(peak), *command], cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    return process.returncode == 0, int(peak.read_text()) / 1024 if peak.exists() else 0.0


def dbt_build(select: list[str] | None, log: Path) -> tuple[bool, float]:
    """`dbt build` (of `select`, as a refresh runs it) in a child; whether it passed and its peak MB."""
    command = [dbt_executable(), "build", "--profiles-dir", str(DBT_PROJECT_DIR)]
    if select:
        command[2:2] = ["--select", " ".join(select)]
    return child(command, DBT_PROJECT_DIR, log)


def generate_files(scale: float, seed: int, out: Path, log: Path) -> float:
    """`hubs generate` in a child; its peak MB. The generator is a simulation that holds every row
    it makes until it writes them (about 2 GB per unit of scale): in a child, that memory goes back
    to the machine before the servers need it."""
    hubs = Path(sys.executable).with_name("hubs")
    command = [str(hubs), "generate", "--scale", f"{scale:g}", "--seed", str(seed), "--out", str(out)]
    passed, peak = child(command, ROOT, log)
    if not passed:
        raise SystemExit(f"generating the landing files failed: {log}")
    return peak


def build(stages: Stages, args: argparse.Namespace, settings: Settings, catalog: Catalog, home: Path) -> int:
    """Generate, land and build everything; the landed rows."""
    with stages.stage("generate") as record:
        peak = generate_files(args.scale, args.seed, home / "landing", home / "generate.log")
        record["children"] = {"generator": peak}
    with stages.stage("land") as record:
        results = load_paths(settings, catalog, [home / "landing"])
        refused = [r for r in results if r.status != "loaded"]
        if refused:
            raise SystemExit(f"landing refused files: {refused}")
        record["rows"] = landed = sum(r.rows for r in results)
    with stages.stage("dbt build (full)") as record:
        passed, peak = dbt_build(None, home / "dbt-full.log")
        record["children"] = {"dbt": peak}
        if not passed:
            raise bench.BuildFailed(f"dbt build failed: {home / 'dbt-full.log'}")
    return landed


def built(home: Path) -> int:
    """The landed rows of the run that left this folder, which must have finished its full build."""
    earlier = json.loads((home / BUILT).read_text())
    if "dbt build (full)" not in earlier:
        raise SystemExit(f"the run that left {home} did not finish its full build: nothing to reuse")
    return int(earlier["land"]["rows"])


def full_syncs(stages: Stages, settings: Settings, catalog: Catalog, kinds: list[str]) -> None:
    conn = connect(settings)
    try:
        for kind in kinds:
            with stages.stage(f"{kind}: full sync") as record, opened(kind, settings, catalog) as store:
                run = bench.run_sync(store, conn, catalog, full=True)
                record.update(records=run.records, slowest=[(r.entity, r.seconds) for r in run.slowest()])
    finally:
        conn.close()


def refresh(stages: Stages, settings: Settings, catalog: Catalog, kinds: list[str], home: Path) -> dict[str, Any]:
    """~1% of the rows changed (stores.py's change), landed, built as a refresh builds, synced."""
    conn = connect(settings)
    try:
        with stages.stage("1%: write the change") as record:
            edits = bench.write_changes(conn, catalog, home / "revision")
            record["rows"] = sum(count for _, _, count in edits.values())
        with stages.stage("1%: land") as record:
            record["rows"] = stages.results["1%: write the change"]["rows"]
            bench.land(settings, catalog, home / "revision")
        with stages.stage("1%: dbt build of what a refresh selects") as record:
            manifest = json.loads(MANIFEST.read_text())
            chosen = [manifest["nodes"][uid]["name"] for uid in pending(conn, manifest).models()]
            conn.commit()
            passed, peak = dbt_build(chosen, home / "dbt-refresh.log")
            record.update(models=len(chosen), children={"dbt": peak})
            if not passed:
                raise bench.BuildFailed(f"the refresh's dbt build failed: {home / 'dbt-refresh.log'}")
        for kind in kinds:
            with stages.stage(f"1%: {kind} sync") as record, opened(kind, settings, catalog) as store:
                run = bench.run_sync(store, conn, catalog, full=False)
                record["records"] = run.records
        return {
            "changed_rows": stages.results["1%: write the change"]["rows"],
            "accepted": bench.accepted_changes(conn, edits),
        }
    finally:
        conn.close()


# -- disk ------------------------------------------------------------------------------------------


def folder_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / MB


def disk(settings: Settings) -> dict[str, Any]:
    servers = embedded_servers(settings)
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select n.nspname, sum(pg_total_relation_size(c.oid)) from pg_class c"
                " join pg_namespace n on n.oid = c.relnamespace"
                " where c.relkind in ('r', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
                " and n.nspname not like 'pg_toast%%' group by 1 order by 2 desc"
            )
            schemas = {name: round(int(size) / MB, 1) for name, size in cur.fetchall()}
        conn.commit()
    finally:
        conn.close()
    out: dict[str, Any] = {
        "postgres": {"by_schema_mb": schemas, "data_folder_mb": round(folder_mb(servers["postgres"].data_dir), 1)}
    }
    for name in ("cache", "graph"):
        client = redis.Redis.from_url(servers[name].url)
        try:
            used = int(client.info("memory")["used_memory"]) / MB
        finally:
            client.close()
        out[name] = {"data_folder_mb": round(folder_mb(servers[name].data_dir), 1), "memory_in_use_mb": round(used, 1)}
    out["vectors"] = {"data_folder_mb": round(folder_mb(settings.home / "qdrant"), 1)}
    if settings.neo4j_uri:
        out["neo4j"] = {"data_folder_mb": round(folder_mb(settings.home / "neo4j"), 1)}
    return out


# -- report ----------------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    names = sorted({n for s in report["stages"].values() for n in s["peak_memory_mb"]})
    print(f"\nscale {report['scale']}, seed {report['seed']}: {report['landed_rows']:,} landed rows")
    print(f"  {'stage':44s} {'seconds':>9s}  " + "  ".join(f"{n[:12]:>12s}" for n in names) + "   (peak MB)")
    for stage, result in report["stages"].items():
        memory = result["peak_memory_mb"]
        cells = "  ".join(f"{memory[n]:12,.0f}" if n in memory else f"{'':12s}" for n in names)
        print(f"  {stage:44s} {result['seconds']:9.1f}  {cells}")
    for when, sizes in report["disk"].items():
        print(f"  disk {when}:")
        for store, size in sizes.items():
            print(f"    {store:10s} {json.dumps(size)}")


def write_results(args: argparse.Namespace, report: dict[str, Any]) -> Path:
    folder = ROOT / "benchmarks" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    # The scale last (scale-10.json, scale-graph-neo4j-10.json): one glob finds a scale's runs.
    parts = ["scale", *([] if args.stores == list(STORES) else args.stores)]
    parts += ["neo4j"] if args.graph_server == "neo4j" else []
    path = folder / f"{'-'.join(parts)}-{args.scale:g}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def run(
    args: argparse.Namespace, settings: Settings, catalog: Catalog, home: Path, neo4j: Neo4jServer | None
) -> dict[str, Any]:
    servers = embedded_servers(settings)
    pids = {name: servers[name].running_pid() for name in bench.SERVERS}
    if neo4j is not None:
        pids["neo4j"] = neo4j.running_pid()
    sampler = ServerSampler({name: pid for name, pid in pids.items() if pid is not None})
    sampler.start()
    # A reused folder keeps the stages of the run that built it.
    stages = Stages(sampler, home / ("stages-so-far-reused.json" if args.reuse else BUILT))
    try:
        landed = built(home) if args.reuse else build(stages, args, settings, catalog, home)
        full_syncs(stages, settings, catalog, args.stores)
        after_full = disk(settings)
        change = refresh(stages, settings, catalog, args.stores, home)
        return {
            "scale": args.scale,
            "seed": args.seed,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
                "python": platform.python_version(),
            },
            "landed_rows": landed,
            **({"neo4j_page_cache_mb": neo4j.page_cache_mb} if neo4j is not None else {}),
            **(
                {"reused": "the data folder of an earlier run (--reuse): no generate, land or full build"}
                if args.reuse
                else {}
            ),
            "stages": stages.results,
            "change": change,
            "disk": {"after the full syncs": after_full, "at the end": disk(settings)},
        }
    finally:
        sampler.stopping.set()


def main() -> None:
    args = parse_args()
    catalog = load_catalog()  # before DBT_TARGET_PATH is set (stores.py's main says why)
    home = bench.prepare_environment(args.reuse)
    settings = hubs_settings.load()
    neo4j = None
    try:
        ensure_running(settings, list(bench.SERVERS))
        if args.graph_server == "neo4j":
            neo4j = bench.start_neo4j(settings)
            settings = hubs_settings.load()  # now with HUBS_NEO4J_URI: the graph and the timeline are Neo4j's
        report = run(args, settings, catalog, home, neo4j)
        print_report(report)
        print(f"\n  written to {write_results(args, report).relative_to(ROOT)}")
    except bench.BuildFailed:
        args.keep = True
        raise
    finally:
        if args.keep:
            print(f"servers left running (HUBS_HOME={home})")
        else:
            if neo4j is not None:
                neo4j.stop()
            bench.stop_servers(settings, home, remove=args.reuse is None)
            if args.reuse:
                print(f"servers stopped; the data folder stays (rm -rf {home} when done with it)")


if __name__ == "__main__":
    main()
