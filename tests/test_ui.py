"""`dagster dev` from the repo root, no flags: the UI lists every asset by hub, a run launched
through it (GraphQL, as the UI does) builds the hubs, and its history and check results are
still there after the UI restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hubs import settings as hubs_settings
from hubs.servers import embedded_servers, ensure_running
from hubs.settings import PROJECT_ROOT
from tests.conftest import free_port

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
RUNS = "{ runsOrError { ... on Runs { results { runId status } } } }"
ASSETS = "{ assetNodes { assetKey { path } groupName } }"
CHECKS = """
query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode { assetChecksOrError { ... on AssetChecks { checks {
      name executionForLatestMaterialization { status } } } } }
  }
}"""


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


@contextmanager
def dagster_dev(env: dict[str, str], port: int, log: Path) -> Iterator[None]:
    with log.open("a") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "dev", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if any(graphql(port, ASSETS)["assetNodes"]):
                    break
            except (OSError, AssertionError, KeyError):
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def ui_env(empty_db: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["HUBS_HOME"] = str(tmp_path / "ui-home")  # its own Dagster storage and inbox
    env["HUBS_POSTGRES_URL"] = empty_db
    # The session's cache and graph servers run on the ports the environment names, under the
    # session's HUBS_HOME: name them by URL so the UI's runs use them instead of starting more.
    settings = hubs_settings.load()
    ensure_running(settings, ["cache", "graph"])
    servers = embedded_servers(settings)
    env["HUBS_REDIS_URL"] = servers["cache"].url
    env["HUBS_FALKORDB_URL"] = servers["graph"].url
    return env


def test_dagster_dev_runs_the_hubs_and_keeps_history_across_restarts(
    ui_env: dict[str, str], generated: tuple[Path, dict], tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "dagster-dev.log"
    with dagster_dev(ui_env, port, log):
        groups = {}
        for node in graphql(port, ASSETS)["assetNodes"]:
            groups.setdefault(node["groupName"], set()).add("/".join(node["assetKey"]["path"]))
        assert "hub3_origin/tractors" in groups["hub3_origin"]
        assert "landing/hub3_origin__tractors" in groups["landing"]

        params = {
            "selector": {"repositoryLocationName": "hubs", "repositoryName": "__repository__", "jobName": "refresh"},
            "runConfigData": {"ops": {"land_files": {"config": {"path": str(generated[0])}}}},
        }
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + 300
        while (status := graphql(port, RUN_STATUS, {"id": run_id})["runOrError"]["status"]) not in (
            "SUCCESS",
            "FAILURE",
            "CANCELED",
        ):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(2)
        assert status == "SUCCESS", log.read_text()[-3000:]

    with dagster_dev(ui_env, port, log):  # a restart: same storage under HUBS_HOME
        runs = {r["runId"]: r["status"] for r in graphql(port, RUNS)["runsOrError"]["results"]}
        assert runs.get(run_id) == "SUCCESS"
        checks = graphql(port, CHECKS, {"path": ["hub3_origin", "driver_assignments"]})
        found = {
            c["name"]: c["executionForLatestMaterialization"]["status"]
            for c in checks["assetNodeOrError"]["assetChecksOrError"]["checks"]
        }
        assert found["q3_1_driver_assignments"] == "SUCCEEDED"
