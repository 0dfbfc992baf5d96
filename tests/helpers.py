"""Small tools the tests share: run dbt, query, write landing files."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg2

from hubs import settings as hubs_settings
from hubs.catalog import dbt_executable, load_catalog
from hubs.landing.loader import FileResult, load_paths
from hubs.settings import DBT_PROJECT_DIR


def run_dbt(args: list[str], url: str, project: Path = DBT_PROJECT_DIR) -> subprocess.CompletedProcess:
    """dbt from dbt_project/ (or another copy's `project`, with its own target/) against the
    database at `url`, as a user would run it."""
    env = {**os.environ, "HUBS_POSTGRES_URL": url}
    if project != DBT_PROJECT_DIR:
        env["DBT_TARGET_PATH"] = str(project / "target")
    return subprocess.run(
        [dbt_executable(), *args, "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def build(url: str, *select: str) -> subprocess.CompletedProcess:
    """dbt build (of `select`, or everything) without the validations: tests of staging and
    history change data in ways a validation may rightly object to (a new unit without a cab
    card); the validations have tests of their own."""
    return run_dbt(
        ["build", *(["--select", *select] if select else []), "--exclude", "tag:validation", "tag:legacy"], url
    )


def query(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params or None)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def execute(url: str, statement: str, params: tuple = ()) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params or None)
    finally:
        conn.close()


def scalar(url: str, statement: str, params: tuple = ()) -> Any:
    return query(url, statement, params)[0][0]


def write_csv(path: Path, rows: list[dict[str, Any]], newline: str = "\n", bom: bool = False) -> Path:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator=newline)
        writer.writeheader()
        writer.writerows(rows)
    return path


def land(*paths: Path) -> list[FileResult]:
    """Lands files and insists that every one was loaded."""
    results = load_paths(hubs_settings.load(), load_catalog(), list(paths))
    assert all(r.status == "loaded" for r in results), [(r.path.name, r.status, r.message) for r in results]
    return results


def offer(*paths: Path) -> list[FileResult]:
    """Lands files, whatever becomes of them."""
    return load_paths(hubs_settings.load(), load_catalog(), list(paths))


def dbt_failed(result: subprocess.CompletedProcess, test_name: str) -> bool:
    """True when dbt reported the named test as failing (or warning)."""
    return any(test_name in line and ("FAIL" in line or "WARN" in line) for line in result.stdout.splitlines())


def dbt_passed(result: subprocess.CompletedProcess, test_name: str) -> bool:
    return any(test_name in line and "PASS" in line for line in result.stdout.splitlines())


def assert_built(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:]
