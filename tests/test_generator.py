"""The generator: deterministic, coherent, speaking the landing contract, with a known share of
bad rows that the platform quarantines exactly."""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from hubs.catalog import load_catalog
from hubs.generate import generate, spool
from hubs.generate.common import vin_check_digit
from hubs.generate.spool import Spool
from tests.helpers import query


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def read(folder: Path, stem: str) -> list[dict[str, str]]:
    with (folder / f"{stem}.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    generate(0.01, 3, tmp_path / "a")
    generate(0.01, 3, tmp_path / "b")
    generate(0.01, 4, tmp_path / "c")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a")["hub3_origin.trips.csv"] != digest(tmp_path / "c")["hub3_origin.trips.csv"]


def test_rows_kept_on_disk_come_back_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a row changed after it was spooled would be written as it was: spilling every 7 rows finds it
    generate(0.01, 3, tmp_path / "memory")
    monkeypatch.setattr(spool, "CHUNK", 7)
    generate(0.01, 3, tmp_path / "spilled")
    assert digest(tmp_path / "memory") == digest(tmp_path / "spilled")


def test_a_spool_keeps_order_columns_and_positions_across_chunks() -> None:
    rows = [{"n": i} if i % 5 else {"n": i, "extra": "x"} for i in range(23)]
    kept = Spool(rows[:20], chunk=4)
    kept.extend(rows[20:])
    assert len(kept) == 23 and list(kept) == rows and list(kept) == rows  # read twice
    assert kept.columns == ["n", "extra"]
    assert kept.at([22, 3, 3, 9]) == {3: rows[3], 9: rows[9], 22: rows[22]}
    with pytest.raises(IndexError, match="position 23 of 23"):
        kept.at([1, 23])
    kept.close()
    assert len(kept) == 0 and list(kept) == []


def test_files_speak_the_landing_contract(generated: tuple[Path, dict]) -> None:
    folder, _ = generated
    for entity in load_catalog().entities:
        path = folder / f"{entity.qualified_name}.csv"
        assert path.exists(), path.name
        header = path.read_text().splitlines()[0].split(",")
        assert set(header) <= {c.name for c in entity.landed_columns}, set(header) - {
            c.name for c in entity.landed_columns
        }
        assert set(entity.required_columns) <= set(header)


def test_unit_6520_exists_and_drivers_rotate(generated: tuple[Path, dict]) -> None:
    folder, _ = generated
    assert "6520" in {r["unit_number"] for r in read(folder, "hub3_origin.tractors")}
    drivers_by_unit = defaultdict(set)
    for row in read(folder, "hub3_origin.driver_assignments"):
        drivers_by_unit[row["unit_number"]].add(row["driver_code"])
    assert len(drivers_by_unit["6520"]) >= 2
    assert sum(len(d) >= 2 for d in drivers_by_unit.values()) >= len(drivers_by_unit) // 2


def test_good_vins_carry_their_check_digit(generated: tuple[Path, dict]) -> None:
    folder, _ = generated
    vins = [
        r["vin"]
        for r in read(folder, "hub3_origin.tractors")
        if not r["unit_number"].startswith("Q") and r["unit_number"]
    ]
    assert vins and all(v[8] == vin_check_digit(v) for v in vins)


def test_fleet_numbers_look_like_a_real_fleet(generated: tuple[Path, dict]) -> None:
    folder, _ = generated
    trips = [r for r in read(folder, "hub3_origin.trips") if r["status"] == "delivered"]
    miles = sorted(int(r["loaded_miles"]) for r in trips)
    assert 300 < miles[len(miles) // 2] < 1500  # median length of haul
    rate = sum(float(r["revenue"]) for r in trips) / sum(int(r["loaded_miles"]) for r in trips)
    assert 2.0 < rate < 3.3  # USD per loaded mile
    fuel = [
        float(r["gallons"])
        for r in read(folder, "hub3_origin.fuel_transactions")
        if r["product"] == "DSL" and not r["transaction_id"].startswith("Q")
    ]
    assert 60 < sum(fuel) / len(fuel) < 250


def test_quarantine_holds_exactly_the_rows_built_to_be_bad(generated: tuple[Path, dict], template_db: str) -> None:
    _, expected = generated
    counts = dict(query(template_db, "select entity, count(*) from quarantine.rows group by entity"))
    assert counts == {entity: e["quarantined"] for entity, e in expected.items() if e["quarantined"]}
    landed = dict(query(template_db, "select entity, sum(rows) from landing._files group by entity"))
    assert {k: int(v) for k, v in landed.items()} == {entity: e["rows"] for entity, e in expected.items()}
