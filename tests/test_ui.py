"""`dagster dev` from the repo root, no flags, queried through the webserver's GraphQL as the UI
queries it: what it says when it starts, the lineage it shows, the automation and freshness of
the stores, a run of the CLI under its job and on the Overview timeline, a run launched through
the UI, and history that survives a restart. One `dagster dev` serves the module (one restart)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_assets.runner import run_job
from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.servers import embedded_servers, ensure_running
from hubs.settings import PROJECT_ROOT
from tests.conftest import free_port, private_database

REPOSITORY = {"repositoryLocationName": "hubs", "repositoryName": "__repository__"}
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"
RUNS = "{ runsOrError { ... on Runs { results { runId status pipelineName } } } }"
ASSETS = "{ assetNodes { assetKey { path } groupName } }"
AUTOMATION = """
{ assetNodes {
    assetKey { path } groupName isExecutable
    automationCondition { label }
    internalFreshnessPolicy { __typename ... on TimeWindowFreshnessPolicy { failWindowSeconds } }
} }"""
SENSORS = """
query($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) { ... on Sensors { results { name sensorType sensorState { status } } } }
}"""
FRESHNESS = """
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode { freshnessStatusInfo { freshnessStatus } } }
}"""
CHECKS = """
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks {
      name executionForLatestMaterialization { status } } } } }
  }
}"""
# What the job's page asks (its runs: name and the repository's label tag).
JOB_RUNS = """
query($params: PipelineSelector!) {
  pipelineOrError(params: $params) { __typename ... on Pipeline { runs(limit: 20) { runId } } }
}"""
# What the jobs list asks for each job's run history.
REPOSITORY_JOB_RUNS = """
query($repo: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repo) { ... on Repository { pipelines { name runs(limit: 20) { runId } } } }
}"""
# The Overview timeline (CompletedRunTimelineQuery of this Dagster's UI): runs are placed in the
# row of the job their repositoryOrigin names; a run without one has no row.
TIMELINE = """
query($completedFilter: RunsFilter!) {
  completed: runsOrError(filter: $completedFilter, limit: 500) {
    ... on Runs { results { id pipelineName repositoryOrigin { repositoryName repositoryLocationName } } }
  }
}"""


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


class DagsterDev:
    """`dagster dev -p PORT` started from the repo root, as a person would."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, free_port()
        self.proc: subprocess.Popen | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def start(self, command: tuple[str, ...] = ("dagster", "dev")) -> None:
        """`dagster dev`, or `hubs ui` (which sets DAGSTER_HOME to the repo root first)."""
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).with_name(command[0])), *command[1:], "-p", str(self.port)],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, self.output()[-3000:]
            try:
                if any(self.query(ASSETS)["assetNodes"]):
                    return
            except (OSError, AssertionError, KeyError):
                pass
            assert time.monotonic() < deadline, self.output()[-3000:]
            time.sleep(1)

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def query(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.port, query, variables)

    def wait_for_run(self, run_id: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.query(RUN_STATUS, {"id": run_id})["runOrError"]["status"]) not in (
            "SUCCESS",
            "FAILURE",
            "CANCELED",
        ):
            assert time.monotonic() < deadline, self.output()[-3000:]
            time.sleep(2)
        return status


@pytest.fixture(scope="module")
def ui(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    """One `dagster dev` for the module, on a new database and a HUBS_HOME of its own (its own
    Dagster storage); this process (the CLI's runs) uses the same, as `hubs` beside it would."""
    home = tmp_path_factory.mktemp("ui-home")
    # The session's cache and graph servers run on the ports the environment names, under the
    # session's HUBS_HOME: name them by URL so the UI's runs use them instead of starting more.
    settings = hubs_settings.load()
    ensure_running(settings, ["cache", "graph"])
    servers = embedded_servers(settings)
    with pytest.MonkeyPatch.context() as patch, private_database(postgres_server, patch, "ui") as url:
        patch.setenv("HUBS_HOME", str(home))
        patch.setenv("HUBS_REDIS_URL", servers["cache"].url)
        patch.setenv("HUBS_FALKORDB_URL", servers["graph"].url)
        patch.delenv("DAGSTER_HOME", raising=False)
        env = {**os.environ, "HUBS_POSTGRES_URL": url}
        dev = DagsterDev(env, home / "dagster-dev.log")
        dev.start()
        try:
            yield dev
        finally:
            dev.stop()


def test_dagster_dev_says_where_history_is_kept(ui: DagsterDev) -> None:
    """Without DAGSTER_HOME, dagster dev announces a temporary directory for storage; the next
    line says where run history really is (HUBS_HOME/dagster, as the README says)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in ui.output().splitlines()]
    temporary = next(i for i, line in enumerate(lines) if "Using temporary directory" in line)
    ours = next(i for i, line in enumerate(lines) if "hubs: run history" in line)
    assert ours > temporary
    dagster_dir = Path(ui.env["HUBS_HOME"]) / "dagster"
    assert f"kept in {dagster_dir} (./dagster.yaml) and survive restarts" in lines[ours]
    assert "DAGSTER_HOME need not be set" in lines[ours]


def test_lineage_has_a_staging_group_and_no_two_nodes_share_a_label(ui: DagsterDev) -> None:
    nodes = ui.query(ASSETS)["assetNodes"]
    groups: dict[str, set[str]] = {}
    for node in nodes:
        groups.setdefault(node["groupName"], set()).add("/".join(node["assetKey"]["path"]))
    entities = load_catalog().entities
    assert {f"staging/stg_{e.landing_table}" for e in entities} | {"hubs_meta/hub_deletions"} == groups["staging"]
    assert "platform" not in groups
    for entity in entities:
        assert f"landing/{entity.landing_table}" in groups["landing"]
        assert f"{entity.schema}/{entity.table}" in groups[entity.schema]
        assert f"graph/{entity.schema}/{entity.table}_in_graph" in groups["graph"]
    assert "cache/realtime_keys" in groups["cache"]
    # The graph view labels a node with the last part of its key.
    labels = Counter(node["assetKey"]["path"][-1] for node in nodes)
    assert [label for label, n in labels.items() if n > 1] == []


def test_stores_follow_their_hub_tables_and_show_their_freshness(ui: DagsterDev) -> None:
    nodes = {"/".join(n["assetKey"]["path"]): n for n in ui.query(AUTOMATION)["assetNodes"]}
    stores = {key: n for key, n in nodes.items() if n["groupName"] in ("graph", "cache", "vectors", "timeline")}
    for key, node in stores.items():
        if key == "cache/realtime_keys":  # written by a sensor, not a run
            assert not node["isExecutable"] and node["automationCondition"] is None
            assert node["internalFreshnessPolicy"]["failWindowSeconds"] == 60
            continue
        assert node["automationCondition"]["label"] == "eager", key
        assert node["internalFreshnessPolicy"]["failWindowSeconds"] == 24 * 3600, key
    # Landing waits for files (the inbox sensor); staging and the hubs are built by refresh.
    for key, node in nodes.items():
        if key not in stores:
            assert node["automationCondition"] is None, key
    sensors = {s["name"]: s for s in ui.query(SENSORS, {"repo": REPOSITORY})["sensorsOrError"]["results"]}
    # An automation condition sensor evaluated by the daemon (not in the code server).
    assert sensors["stores_follow_hubs"]["sensorType"] == "AUTO_MATERIALIZE"
    assert sensors["stores_follow_hubs"]["sensorState"]["status"] == "RUNNING"
    assert sensors["realtime_cache_keeper"]["sensorState"]["status"] == "RUNNING"


def test_a_cli_run_shows_under_its_job_and_on_the_timeline(ui: DagsterDev, generated: tuple[Path, dict]) -> None:
    started = time.time()
    outcome = run_job("land", str(generated[0]), quiet=True)  # what `hubs load` runs
    assert outcome.success, outcome.failures
    land = {**REPOSITORY, "pipelineName": "land"}
    job = ui.query(JOB_RUNS, {"params": land})["pipelineOrError"]
    assert outcome.run_id in {r["runId"] for r in job["runs"]}, job
    jobs = ui.query(REPOSITORY_JOB_RUNS, {"repo": REPOSITORY})["repositoryOrError"]["pipelines"]
    assert outcome.run_id in {r["runId"] for j in jobs if j["name"] == "land" for r in j["runs"]}
    done = {"statuses": ["SUCCESS", "FAILURE", "CANCELED"], "updatedAfter": started - 1}
    timeline = {r["id"]: r for r in ui.query(TIMELINE, {"completedFilter": done})["completed"]["results"]}
    assert timeline[outcome.run_id]["pipelineName"] == "land"
    assert timeline[outcome.run_id]["repositoryOrigin"] == {
        "repositoryName": "__repository__",
        "repositoryLocationName": "hubs",
    }


def test_a_ui_run_builds_the_hubs_and_history_survives_a_restart(ui: DagsterDev, generated: tuple[Path, dict]) -> None:
    params = {
        "selector": {**REPOSITORY, "jobName": "refresh"},
        "runConfigData": {"ops": {"land_files": {"config": {"path": str(generated[0])}}}},
    }
    launched = ui.query(LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert ui.wait_for_run(run_id) == "SUCCESS", ui.output()[-3000:]

    # The real-time keys are rewritten within 30 s, and their asset is then fresh.
    deadline = time.monotonic() + 120
    while (
        ui.query(FRESHNESS, {"path": ["cache", "realtime_keys"]})["assetNodeOrError"]["freshnessStatusInfo"][
            "freshnessStatus"
        ]
        != "HEALTHY"
    ):
        assert time.monotonic() < deadline, ui.output()[-3000:]
        time.sleep(3)

    ui.stop()
    since = len(ui.output())
    ui.start(("hubs", "ui"))  # same storage under HUBS_HOME
    said = ui.output()[since:]
    assert "hubs: run history" in said and "temporary directory" not in said, said[:3000]
    runs = {r["runId"]: r for r in ui.query(RUNS)["runsOrError"]["results"]}
    assert runs[run_id]["status"] == "SUCCESS"
    # The refresh built the stores itself: the automation did not sync them again.
    assert {r["pipelineName"] for r in runs.values()} <= {"land", "refresh"}, runs
    land = {**REPOSITORY, "pipelineName": "land"}
    assert any(ui.query(JOB_RUNS, {"params": land})["pipelineOrError"]["runs"])  # the CLI's, still under its job
    checks = ui.query(CHECKS, {"path": ["hub3_origin", "driver_assignments"]})
    found = {
        c["name"]: c["executionForLatestMaterialization"]["status"]
        for c in checks["assetNodeOrError"]["assetChecksOrError"]["checks"]
    }
    assert found["q3_1_driver_assignments"] == "SUCCEEDED"
