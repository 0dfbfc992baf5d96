"""What a refresh has to build (hub_assets/dbt/pending.py), read from the database: nothing on a
built one; one landed file makes its entity pending until its staging model and every model
reading that staging model have read it, however far an earlier build got."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2

from hub_assets.dbt.pending import Pending, pending, project_fingerprint
from hubs.catalog import MANIFEST
from tests.helpers import assert_built, build, land

GOALS = "model.hubs.stg_hub1_command__goals"


def _pending(url: str) -> Pending:
    conn = psycopg2.connect(url)
    try:
        return pending(conn, json.loads(MANIFEST.read_text()))
    finally:
        conn.close()


def test_pending_until_every_reader_of_the_landed_rows_has_read_them(
    db: str, generated: tuple[Path, dict], tmp_path: Path
) -> None:
    assert _pending(db).nothing

    lines = (generated[0] / "hub1_command.goals.csv").read_text().splitlines()
    (tmp_path / "hub1_command.goals.csv").write_text(lines[0] + "\n" + lines[1] + "\n")  # one goal again
    land(tmp_path / "hub1_command.goals.csv")
    todo = _pending(db)
    assert set(todo.reasons) == {GOALS}
    assert "landed past" in todo.reasons[GOALS]
    assert not todo.everything
    assert todo.models()[0] == "model.hubs.hub_deletions"  # the delete pass goes first
    assert set(todo.models()) == {"model.hubs.hub_deletions", GOALS, "model.hubs.goals", "model.hubs.goals_history"}

    # A build that stopped after staging: the hub table has not read the rows yet.
    assert_built(build(db, "hub_deletions", "stg_hub1_command__goals"))
    todo = _pending(db)
    assert set(todo.reasons) == {GOALS}
    assert "not yet read" in todo.reasons[GOALS]

    assert_built(build(db, "goals", "goals_history"))
    assert _pending(db).nothing


def test_the_project_fingerprint_moves_with_a_model_test_or_macro_and_nothing_else() -> None:
    manifest = json.loads(MANIFEST.read_text())
    before = project_fingerprint(manifest)
    assert project_fingerprint(json.loads(MANIFEST.read_text())) == before
    for edit in (
        lambda m: m["nodes"]["model.hubs.tractors"].update(checksum={"name": "sha256", "checksum": "edited"}),
        lambda m: next(n for n in m["nodes"].values() if n["resource_type"] == "test").update(checksum="edited"),
        lambda m: next(x for x in m["macros"].values() if x["package_name"] == "hubs").update(macro_sql="edited"),
        lambda m: m["nodes"]["model.hubs.tractors"]["columns"]["make"].update(data_type="integer"),
    ):
        edited = json.loads(MANIFEST.read_text())
        edit(edited)
        assert project_fingerprint(edited) != before
    volatile = json.loads(MANIFEST.read_text())
    for node in volatile["nodes"].values():
        node["created_at"] = 0.0  # when dbt parsed it: not what it builds
    assert project_fingerprint(volatile) == before
