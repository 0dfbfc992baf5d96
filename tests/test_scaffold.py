"""`hubs scaffold` writes what a hub model's yml entry implies, exactly as the existing 45 are
written, and a 46th entity given only its yml entry flows from landing to every store it declares."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubs import scaffold
from hubs import settings as hubs_settings
from hubs.catalog import Catalog, load_catalog
from hubs.landing.loader import load_paths
from hubs.servers import ensure_running
from hubs.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from tests.helpers import query, run_dbt, write_csv

MODELS = DBT_PROJECT_DIR / "models"


def whole_file(entries: list[scaffold.YmlEntry]) -> str:
    return entries[0].header + "".join(e.text for e in entries)


def test_the_scaffold_writes_every_existing_entity_byte_for_byte_as_it_is_in_the_repo() -> None:
    catalog = load_catalog()
    models = scaffold.hub_models()
    assert sorted(m.model for m in models) == sorted(e.model for e in catalog.entities)
    scd2 = sum(e.history == "scd2" for e in catalog.entities)
    for schema in sorted({m.schema for m in models}):
        mine = [m for m in models if m.schema == schema]
        staging_yml = MODELS / "staging" / schema / f"_stg_{schema}__models.yml"
        assert staging_yml.read_text() == whole_file([scaffold.staging_entry(m) for m in mine])
        landing_yml = MODELS / "landing" / f"_landing__{schema}.yml"
        assert landing_yml.read_text() == whole_file([scaffold.landing_entry(m) for m in mine])
    written = [p for m in models for p in scaffold.pieces(m) if p.entry is None]
    assert len(written) == len(models) * 2 + scd2  # staging and hub sql of each, history sql of the SCD-2 ones
    for piece in written:
        assert piece.path.read_text() == piece.text, piece.path
    # The history models' yml entries are hand-described: the rest of them is what it writes.
    histories = [p for m in models for p in scaffold.pieces(m) if p.entry and p.entry.name.endswith("_history")]
    assert len(histories) == scd2
    assert all(scaffold.state(p) == "ok" for p in histories)


def test_an_unknown_entity_or_a_model_without_meta_hubs_is_refused_naming_the_file() -> None:
    with pytest.raises(scaffold.ScaffoldError, match=r"no hub model 'tyre'.*dbt_project/models/hubs/\*/\*\.yml"):
        scaffold.find("tyre")
    with pytest.raises(scaffold.ScaffoldError, match=r"_hub3_origin__models\.yml: model tractors_history has no"):
        scaffold.find("tractors_history")


def test_appending_refuses_a_file_whose_list_is_not_last() -> None:
    entry = scaffold.landing_entry(scaffold.find("tractor"))
    for text in (
        "version: 2\n\nsources:\n  - name: landing\n    tables: []\nextra: 1\n",
        "version: 2\n\nsources:\n  - name: landing\n    tables:\n      - name: a\n  - name: other\n",
    ):
        with pytest.raises(scaffold.ScaffoldError, match="cannot append hub3_origin__tractors"):
            scaffold.appended(text, entry)


# -- a 46th entity ---------------------------------------------------------------------------

# Written the way an author writes it: a tire mounted on a tractor, cached and embedded.
TIRE = """
  - name: tires
    description: Tires mounted on the Origin fleet's tractors.
    config:
      meta:
        hubs:
          entity: tire
          label: Tire
          relationships:
            - {type: MOUNTED_ON, columns: [unit_number], cardinality: "N:1"}
          cache:
            - {key: "tire:{serial_number}:tread", fields: [position, tread_depth_32nds], ttl_seconds: 3600}
          vectors: {collection: documents, text: [notes], payload: [unit_number, position]}
    constraints:
      - {type: primary_key, columns: [serial_number]}
    columns:
      - {name: serial_number, data_type: text, description: "DOT tire identification number."}
      - {name: unit_number, data_type: text, description: "Tractor it is mounted on.", constraints: [{type: not_null}, {type: foreign_key, to: "ref('tractors')", to_columns: [unit_number]}]}
      - {name: position, data_type: text, description: "Wheel position.", constraints: [{type: not_null}, {type: check, expression: "position in ('steer', 'drive', 'spare')"}]}
      - {name: tread_depth_32nds, data_type: smallint, description: "Tread depth, 32nds of an inch.", constraints: [{type: check, expression: "tread_depth_32nds between 0 and 32"}]}
      - {name: notes, data_type: text, description: "What the last inspection said about it."}
      - *created_at
      - *updated_at
      - *landing_seq
      - *row_hash
"""  # noqa: E501 - a yml entry as authors write them
PARTY_ID = "5b0c1f0e-8a4e-4d59-9a57-0a2f7c1d2e31"
PARENT_ROWS = {
    "hub4_contacts.parties": [
        {"party_id": PARTY_ID, "party_type": "organization", "display_name": "Origin Transport", "status": "active"}
    ],
    "hub5_financial.legal_entities": [
        {
            "entity_code": "OT",
            "party_id": PARTY_ID,
            "legal_name": "Origin Transport LLC",
            "ein": "12-3456789",
            "entity_type": "LLC",
            "formation_state": "TX",
            "status": "active",
        }
    ],
    "hub3_origin.tractors": [
        {
            "unit_number": "6520",
            "vin": "1M8GDM9AXKP042788",
            "make": "Freightliner",
            "model": "Cascadia 126",
            "model_year": "2019",
            "status": "active",
            "owner_entity": "OT",
        }
    ],
}
TIRE_ROWS = [
    {"serial_number": f"DOT-{n}", "unit_number": "6520", "position": pos, "tread_depth_32nds": "18", "notes": note}
    for n, (pos, note) in enumerate(
        [("steer", "even wear"), ("drive", "cupping on the inner shoulder"), ("spare", "no damage")]
    )
]
SUBSET = ["parties", "legal_entities", "tractors", "tires"]


def copy_repository(into: Path) -> Path:
    """The repository's files as a clone would have them (and new ones not ignored): no target/, no .venv."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in files.decode().split("\0"):
        if name and (PROJECT_ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, into / name)
    return into


def hubs_cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`hubs ARGS` of the copy (its code, so its project root)."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run(
        [sys.executable, "-m", "hubs.cli", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )


def sync_subset(catalog: Catalog) -> dict[str, list]:
    """Graph, cache and vectors filled with the new entity and its parents (a full sync of just
    them: the session's stores hold other tests' data, which stays)."""
    from hubs.db import connect
    from hubs.sync.engine import sync
    from hubs.sync.stores import open_store

    settings = hubs_settings.load()
    conn = connect(settings)
    stores = {kind: open_store(kind, settings, catalog) for kind in ("graph", "cache", "vectors")}
    try:
        for store in stores.values():
            sync(store, conn, catalog, entities=SUBSET, full=True)
        graph, cache, vectors = stores["graph"], stores["cache"], stores["vectors"]
        tires = catalog.by_model("tires")
        from qdrant_client import models

        only_tires = models.Filter(must=[models.FieldCondition(key="entity", match=models.MatchValue(value="tires"))])
        return {
            "graph": graph.dialect.run("MATCH (t:Tire)-[:MOUNTED_ON]->(:Tractor) RETURN count(t)"),
            "cache": sorted(k.decode() for k in cache.client.scan_iter(match="tire:*", count=1000)),
            "vectors": [vectors.client.count(vectors.collection(tires), count_filter=only_tires, exact=True).count],
        }
    finally:
        for store in stores.values():
            store.close()
        conn.close()


def test_a_46th_entity_given_only_its_yml_entry_reaches_every_store_it_declares(
    tmp_path: Path, empty_db: str, hubs_home: Path, offline_embedder: None
) -> None:
    repo = copy_repository(tmp_path / "repo")
    hub_yml = repo / "dbt_project/models/hubs/hub3_origin/_hub3_origin__models.yml"
    hub_yml.write_text(hub_yml.read_text() + TIRE)
    before = {p: p.read_text() for p in (repo / "dbt_project/models").rglob("*.yml")}

    missing = hubs_cli(repo, "scaffold", "--check")
    assert (
        missing.returncode == 1
        and "missing     dbt_project/models/staging/hub3_origin/stg_hub3_origin__tires.sql" in (missing.stdout)
    ), missing.stdout + missing.stderr
    first = hubs_cli(repo, "scaffold", "tire")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("  wrote ") == 2 and first.stdout.count("  appended ") == 2, first.stdout
    again = hubs_cli(repo, "scaffold", "tire")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    assert hubs_cli(repo, "scaffold", "--check").returncode == 0
    for path, text in before.items():  # yml files only grew
        assert path.read_text().startswith(text), path

    parsed = run_dbt(["parse"], empty_db, repo / "dbt_project")
    assert parsed.returncode == 0, parsed.stdout[-3000:]
    catalog = load_catalog(repo / "dbt_project/target/manifest.json")
    folder = tmp_path / "inbox"
    folder.mkdir()
    files = [write_csv(folder / f"{stem}.csv", rows) for stem, rows in PARENT_ROWS.items()]
    files.append(write_csv(folder / "hub3_origin.tires.csv", TIRE_ROWS))
    results = load_paths(hubs_settings.load(), catalog, files)
    assert [r.status for r in results] == ["loaded"] * 4, [(r.path.name, r.message) for r in results]

    built = run_dbt(
        ["build", "--select", "+tires", "tractors_history", "--exclude", "tag:validation", "tag:legacy"],
        empty_db,
        repo / "dbt_project",
    )
    assert built.returncode == 0, built.stdout[-4000:]
    assert query(empty_db, "select count(*) from hub3_origin.tires") == [(3,)]

    settings = hubs_settings.load()
    ensure_running(settings, ["cache"] + ([] if settings.neo4j_uri else ["graph"]))
    held = sync_subset(catalog)
    assert held["graph"] == [[3]]
    assert held["cache"] == [f"tire:DOT-{n}:tread" for n in range(3)]
    assert held["vectors"] == [3]
