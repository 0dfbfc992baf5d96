"""The README's main job, as a newcomer runs it: `hubs demo`, twice, then `hubs down`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port

HUBS = [sys.executable, "-m", "hubs.cli"]


@pytest.fixture
def fresh_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBS_") and k != "DBT_TARGET_PATH"}
    env.update(
        HUBS_HOME=str(tmp_path / "home"),
        HUBS_POSTGRES_PORT=str(free_port()),
        HUBS_REDIS_PORT=str(free_port()),
        HUBS_FALKORDB_PORT=str(free_port()),
    )
    yield env
    subprocess.run([*HUBS, "down"], env=env, capture_output=True, check=False)


def hubs(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUBS, *args], env=env, capture_output=True, text=True, check=False, timeout=900)


def summary(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("entity"))
    end = next(i for i, line in enumerate(lines) if line.strip().startswith("total"))
    return lines[start : end + 1]


def test_demo_twice_gives_the_same_result_and_down_leaves_nothing(fresh_env: dict[str, str]) -> None:
    first = hubs(fresh_env, "demo")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "checks passed, 0 failed" in first.stdout
    table = summary(first.stdout)
    assert any(line.strip().startswith("hub3_origin.tractors") for line in table)
    assert "hubs ui" in first.stdout and "http://127.0.0.1:3000" in first.stdout

    second = hubs(fresh_env, "demo")
    assert second.returncode == 0, second.stdout[-3000:]
    assert summary(second.stdout) == table
    assert "skipped  hub3_origin.tractors.csv" in second.stdout

    status = hubs(fresh_env, "status")
    assert status.returncode == 0
    assert "postgres  running" in status.stdout and "FalkorDB" in status.stdout
    pids = [int(line.split("pid ")[1].split()[0]) for line in status.stdout.splitlines() if " running  pid " in line]
    assert len(pids) == 3
    down = hubs(fresh_env, "down")
    assert down.stdout.count("stopped") == 3
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_load_reports_refusals_and_exits_nonzero(fresh_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    result = hubs(fresh_env, "load", str(folder))
    assert result.returncode == 1
    assert "refused  notes.txt" in result.stdout and "unknown file name" in result.stdout
    assert "failed check: landing/_files:no_refused_files" in result.stdout
