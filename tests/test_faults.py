"""Fault injection: an operator's bad day, replayed on every CI run.

- The CLI is killed (SIGKILL, at a failpoint: hubs/faults.py) in each step of a refresh and of
  each store's sync, one run after another; the next run must recover.
- Each embedded server (FalkorDB, Redis, PostgreSQL) is killed while a store syncs
  (tests/test_server_kills.py).
- Two runs rebuild the same store at once.
- Every poison value of tests/test_poison_rows.py, and files that cannot be read, go through a
  whole refresh.
- Secrets sit in the environment of every run.

Whatever happened, afterwards every store holds exactly what a fresh rebuild from PostgreSQL
puts there, every landed row is accepted or quarantined, and no secret was shown or logged.
The CLI runs are done on FalkorDB and on Neo4j.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest

from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.generate import generate
from hubs.servers import ensure_running
from hubs.sync.stores import STORES
from tests import fingerprints
from tests.conftest import STORES_SCALE, TEST_SEED, StoreBench, empty_stores, private_database, use_graph_server
from tests.helpers import query, write_csv
from tests.test_landing import tractor
from tests.test_poison_rows import POISON, fresh, landed_row

# Secrets in the environment of every CLI run here; none may appear in any output or file.
OPENAI_KEY = "sk-fault-test-0f9e8d7c6b5a4"
NEO4J_PASSWORD = "n4j-fault-Secret-73"


def landed_equals_accepted_plus_quarantined(conn: psycopg2.extensions.connection) -> list[str]:
    """Entities whose landed rows are not each either staged as accepted or quarantined."""
    problems = []
    with conn.cursor() as cur:
        for entity in load_catalog().entities:
            staging = f"staging.stg_{entity.schema}__{entity.table}"
            cur.execute(
                f"select (select count(*) from landing.{entity.landing_table}),"
                f" (select count(*) from {staging} where _accepted),"
                " (select count(*) from quarantine.rows where _landing_seq in"
                f"  (select _landing_seq from landing.{entity.landing_table}))"
            )
            landed, accepted, quarantined = cur.fetchone()
            if landed != accepted + quarantined:
                problems.append(f"{entity.qualified_name}: {landed} landed, {accepted} + {quarantined}")
    conn.commit()
    return problems


def assert_every_store_like_a_rebuild(kinds: tuple[str, ...] = STORES) -> None:
    bench = StoreBench()
    try:
        for kind in kinds:
            held = fingerprints.OF[kind](bench.store(kind), bench.conn)
            bench.sync(kind, full=True)
            rebuilt = fingerprints.OF[kind](bench.store(kind), bench.conn)
            assert held == rebuilt, f"{kind}: {fingerprints.difference(held, rebuilt)}"
        assert landed_equals_accepted_plus_quarantined(bench.conn) == []
    finally:
        bench.close()


# -- the CLI, killed at every step -----------------------------------------------------------------


@dataclass
class Operator:
    """Runs `hubs` in a subprocess, as a person would, against this module's database."""

    backend: str
    data: Path
    said: list[str] = field(default_factory=list)

    def run(self, *args: str, failpoint: str | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        env = {**os.environ, "OPENAI_API_KEY": OPENAI_KEY, "HUBS_EMBEDDER": "offline"}
        if self.backend == "falkordb":
            env["HUBS_NEO4J_PASSWORD"] = NEO4J_PASSWORD  # set but unused: must still never show
        env.pop("HUBS_FAILPOINT", None)
        if failpoint:
            env["HUBS_FAILPOINT"] = failpoint
        done = subprocess.run(
            [sys.executable, "-m", "hubs.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        self.said += [done.stdout, done.stderr]
        return done

    def killed_at(self, failpoint: str, *args: str) -> None:
        done = self.run(*args, failpoint=failpoint)
        assert done.returncode == -signal.SIGKILL, (
            f"`hubs {' '.join(args)}` was to die at {failpoint} but ended {done.returncode}:\n{done.stdout[-3000:]}"
        )

    def ensure_built(self) -> None:
        """The module's data landed and built (when a test runs on its own)."""
        if not query(os.environ["HUBS_POSTGRES_URL"], "select to_regclass('hub1_command.insights') is not null")[0][0]:
            self.succeeds("refresh", str(self.data))

    def succeeds(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"`hubs {' '.join(args)}` failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
        return done.stdout


@pytest.fixture(scope="module", params=["falkordb", "neo4j"])
def operator(
    request: pytest.FixtureRequest, postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    data = tmp_path_factory.mktemp("fault-data")
    generate(STORES_SCALE, TEST_SEED, data)
    with pytest.MonkeyPatch.context() as patch:
        use_graph_server(request, patch)
        patch.delenv("HUBS_FAILPOINT", raising=False)
        with private_database(postgres_server, patch, f"fault{request.param[0]}"):
            settings = hubs_settings.load()
            ensure_running(settings, ["cache"] + ([] if settings.neo4j_uri else ["graph"]))
            empty_stores()
            yield Operator(request.param, data)


def test_a_run_killed_in_any_step_is_recovered_by_the_next(operator: Operator) -> None:
    if operator.backend == "falkordb":
        operator.killed_at("land.file@5", "refresh", str(operator.data))
        operator.killed_at("dbt.event@60", "refresh", str(operator.data))
        operator.killed_at("sync.cache.written@3", "refresh", str(operator.data))
        operator.killed_at("sync.vectors.written@2", "sync", "vectors")
    else:  # the steps that differ between graph servers
        operator.killed_at("sync.cache.written@3", "refresh", str(operator.data))
    operator.killed_at("sync.graph.written@12", "sync", "graph")
    operator.killed_at("sync.timeline.written@5", "sync", "timeline")
    out = operator.succeeds("refresh", str(operator.data))
    assert "0 failed" in out
    assert_every_store_like_a_rebuild()


def test_a_timeline_sync_killed_between_saving_beliefs_and_pruning_is_mended(
    operator: Operator, tmp_path: Path
) -> None:
    """A late version of a tractor supersedes a belief; the timeline saves the key's beliefs (the
    superseded one expired), then removes the edges no longer believed. Killed in between, the
    next sync does the key again and the timeline is what a rebuild makes."""
    operator.ensure_built()
    operator.succeeds("sync", "timeline")
    [(unit, first, second)] = query(
        os.environ["HUBS_POSTGRES_URL"],
        "select unit_number, min(valid_from), (array_agg(valid_from order by valid_from))[2]"
        " from hub3_origin.tractors_history group by 1 having count(*) > 1 order by 1 limit 1",
    )
    late = first + (second - first) / 2
    folder = tmp_path / "late"
    folder.mkdir()
    tractors = load_catalog().by_model("tractors")
    columns = [c.name for c in tractors.landed_columns if not c.name.startswith("_")]
    [landed] = query(
        os.environ["HUBS_POSTGRES_URL"],
        f"select {', '.join(columns)} from landing.{tractors.landing_table}"
        " where unit_number = %s order by _landing_seq desc limit 1",
        (unit,),
    )
    row = dict(zip(columns, landed, strict=True)) | {"status": "maintenance", "valid_from": late.isoformat()}
    write_csv(folder / "hub3_origin.tractors.csv", [row])
    operator.killed_at("sync.timeline.saved@1", "refresh", str(folder))
    operator.succeeds("sync", "timeline")
    bench = StoreBench()
    try:
        edges = bench.store("timeline").edges(bench.catalog.by_model("tractors"))
    finally:
        bench.close()
    assert any(e["key"] == unit and e["expired_at"] for e in edges), "the late version superseded no belief"
    assert_every_store_like_a_rebuild(("timeline",))


def test_two_rebuilds_at_once_write_the_graph_once(operator: Operator) -> None:
    if operator.backend != "falkordb":
        pytest.skip("the writer lock lives in PostgreSQL, the same for either graph server")
    operator.ensure_built()
    env = {**os.environ, "HUBS_EMBEDDER": "offline"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "hubs.cli", "rebuild", "graph"], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert any("waiting for the graph store: another sync is writing it" in out for out in outputs), outputs
    assert_every_store_like_a_rebuild(("graph",))


def test_poison_values_never_reach_a_store(operator: Operator, tmp_path: Path) -> None:
    """Every poison value of tests/test_poison_rows.py (which also lands good rows beside them)
    through a whole refresh: quarantined, and every step and check after it goes on."""
    operator.ensure_built()
    url = os.environ["HUBS_POSTGRES_URL"]
    files: dict[str, list[dict[str, str]]] = {}
    poisoned: list[tuple[str, str, str]] = []
    for n, (entity, key, where, column, value, _) in enumerate(POISON):
        row = landed_row(url, entity, where, **fresh(entity, key, 900 + n), **{column: value})
        files.setdefault(entity, []).append(row)
        poisoned.append((entity, key, row[key]))
    long_key = tractor("U" * 20_000)
    files["hub3_origin.tractors"].append(long_key)
    poisoned.append(("hub3_origin.tractors", "unit_number", long_key["unit_number"]))
    for entity, rows in files.items():
        write_csv(tmp_path / f"{entity}.csv", rows)
    wrong_type = {**tractor("7950"), "make": {"nested": {"a": 1}}}
    (tmp_path / "hub3_origin.tractors.jsonl").write_text(json.dumps(wrong_type) + "\n")
    poisoned.append(("hub3_origin.tractors", "unit_number", "7950"))
    # Files that cannot be read are refused whole, saying why, and the others still land.
    (tmp_path / "hub1_command.goals.jsonl").write_text('{"goal_id": "x", "title": "' + "\\u0000" + '"}\n')
    (tmp_path / "hub1_command.persons.jsonl").write_text('{"handle": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (tmp_path / "hub4_contacts.parties.csv").symlink_to("/etc/passwd")
    done = operator.run("refresh", str(tmp_path))
    out = done.stdout
    assert "failed step" not in out, out[-4000:]
    assert [line.strip() for line in out.splitlines() if line.strip().startswith("failed check")] == [
        "failed check: landing/_files:no_refused_files"
    ], out[-4000:]
    refused = query(url, "select file_name, message from landing._files where status = 'refused'")
    assert {name for name, _ in refused} >= {"hub1_command.goals.jsonl", "hub1_command.persons.jsonl"}
    assert not any("root:" in (message or "") for _, message in refused) and "root:" not in out + done.stderr
    for entity, key, value in poisoned:
        assert query(
            url, "select count(*) from quarantine.rows where entity = %s and raw ->> %s = %s", (entity, key, value)
        ) == [(1,)]
    assert_every_store_like_a_rebuild()


def test_no_secret_was_shown_or_kept(operator: Operator) -> None:
    assert operator.said, "no run was made in this module"
    for secret in (OPENAI_KEY, NEO4J_PASSWORD):
        assert not any(secret in text for text in operator.said), f"{secret[:6]}... shown by the CLI"
        home = hubs_settings.load().home
        found = subprocess.run(["grep", "-rIl", secret, str(home)], capture_output=True, text=True).stdout
        assert found == "", f"{secret[:6]}... kept in {found}"
