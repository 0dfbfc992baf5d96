"""Bi-temporal history and the change feed (hubs/recall/history.py) on rows landed and built with
dbt: a correction keeps what was believed before it, as_of answers on both time axes, changes
lists inserts, updates (before/after) and deletes between two transaction times.

Files are dated by setting their landing time in landing._files before the build reads it (as if
they had landed on those days), so the questions read the way a person asks them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient
from psycopg2.extensions import connection as Connection

from hubs.catalog import Entity, load_catalog
from hubs.recall.history import as_of, changes
from hubs.recall.http import create_app
from hubs.recall.memory import Memory
from tests.helpers import assert_built, build, execute, land, query, scalar, write_csv
from tests.test_landing import tractor


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def entity(model: str) -> Entity:
    return load_catalog().by_model(model)


def land_on(url: str, folder: Path, landed_at: str) -> int:
    """Lands the folder's files as if on `landed_at`; returns the last landing sequence."""
    last_file = scalar(url, "select coalesce(max(file_id), 0) from landing._files")
    land(folder)
    execute(url, "update landing._files set loaded_at = %s where file_id > %s", (day(landed_at), last_file))
    return scalar(url, "select last_value from landing.landing_seq")


def folder(parent: Path, name: str, files: dict[str, list[dict[str, Any]]]) -> Path:
    path = parent / name
    path.mkdir()
    for stem, rows in files.items():
        write_csv(path / f"{stem}.csv", rows)
    return path


@pytest.fixture
def conn(db: str) -> Iterator[Connection]:
    connection = psycopg2.connect(db)
    yield connection
    connection.close()


def free_drivers(url: str) -> list[str]:
    """Two drivers with no assignment open in 2027 (the tests assign them then)."""
    return [
        r[0]
        for r in query(
            url,
            "select d.driver_code from hub3_origin.drivers as d where not exists ("
            " select 1 from hub3_origin.driver_assignments as a where a.driver_code = d.driver_code"
            " and (a.valid_to is null or a.valid_to > '2027-01-01')) order by 1 limit 2",
        )
    ]


def assignment(assignment_id: str, driver: str, unit: str, valid_from: str, valid_to: str = "") -> dict[str, str]:
    return {
        "assignment_id": assignment_id,
        "driver_code": driver,
        "unit_number": unit,
        "seat": "primary",
        "valid_from": valid_from,
        "valid_to": valid_to,
        "reason": "rotation",
    }


def test_a_corrected_assignment_keeps_what_was_believed_before(db: str, conn: Connection, landing_dir: Path) -> None:
    """On March 3, what did we believe about who drove 7301 on March 1? And what do we now?"""
    first, second = free_drivers(db)
    x, y = str(uuid.uuid4()), str(uuid.uuid4())
    believed = folder(
        landing_dir,
        "a",
        {
            "hub3_origin.tractors": [tractor("7301")],
            "hub3_origin.driver_assignments": [assignment(x, first, "7301", "2027-02-20T00:00:00Z")],
        },
    )
    land_on(db, believed, "2027-03-02T09:00:00")
    assert_built(build(db, "+driver_assignments"))
    corrected = folder(
        landing_dir,
        "b",
        {
            "hub3_origin.driver_assignments": [
                assignment(x, first, "7301", "2027-02-20T00:00:00Z", "2027-02-28T00:00:00Z"),
                assignment(y, second, "7301", "2027-02-28T00:00:00Z"),
            ]
        },
    )
    land_on(db, corrected, "2027-03-05T09:00:00")
    assert_built(build(db, "+driver_assignments"))

    assignments = entity("driver_assignments")
    then = as_of(conn, assignments, {"unit_number": "7301"}, day("2027-03-01"), known_at=day("2027-03-03"))
    assert [(b.row["driver_code"], b.row["valid_to"]) for b in then.rows] == [(first, None)]
    [belief] = then.rows
    assert (belief.known_from, belief.known_to) == (day("2027-03-02T09:00"), day("2027-03-05T09:00"))
    assert then.valid_at == day("2027-03-01") and then.known_at == day("2027-03-03")

    now = as_of(conn, assignments, {"unit_number": "7301"}, day("2027-03-01"))
    assert [(b.row["driver_code"], b.known_to) for b in now.rows] == [(second, None)]
    earlier = as_of(conn, assignments, {"unit_number": "7301"}, day("2027-02-25"))
    assert [b.row["driver_code"] for b in earlier.rows] == [first]
    # before anything about the unit landed, nothing was believed
    assert as_of(conn, assignments, {"unit_number": "7301"}, day("2027-03-01"), day("2027-03-01")).rows == []
    # the current table is as it always was: one row per assignment, the corrected one
    assert query(
        db,
        "select driver_code, valid_to::date::text from hub3_origin.driver_assignments"
        " where unit_number = '7301' order by valid_from",
    ) == [(first, "2027-02-28"), (second, None)]
    # the README's SQL asks the same question without Python
    assert query(db, readme_sql().replace("'6520'", "'7301'").replace("2025-03", "2027-03")) == [
        (first, day("2027-02-20"), None, day("2027-03-02T09:00"), day("2027-03-05T09:00"))
    ]


def readme_sql() -> str:
    """The as-of example in the README's history section."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    start = text.index("```sql\n  with believed as (")
    return text[start + len("```sql") : text.index("```", start + 6)]


def test_a_late_version_keeps_the_bounds_believed_before_it(db: str, conn: Connection, landing_dir: Path) -> None:
    early = folder(
        landing_dir,
        "a",
        {
            "hub3_origin.tractors": [
                tractor("7302", valid_from="2027-01-01T00:00:00Z"),
                tractor("7302", status="out_of_service", valid_from="2027-02-15T00:00:00Z"),
            ]
        },
    )
    land_on(db, early, "2027-03-02T09:00:00")
    assert_built(build(db, "+tractors", "+tractors_history"))
    late = folder(
        landing_dir,
        "b",
        {"hub3_origin.tractors": [tractor("7302", status="maintenance", valid_from="2027-02-01T00:00:00Z")]},
    )
    late_seq = land_on(db, late, "2027-03-05T09:00:00")
    assert_built(build(db, "+tractors", "+tractors_history"))

    tractors = entity("tractors")
    key = {"unit_number": "7302"}
    then = as_of(conn, tractors, key, day("2027-02-10"), day("2027-03-03"))
    assert [(b.row["status"], b.row["valid_to"], b.known_to_seq) for b in then.rows] == [
        ("active", day("2027-02-15"), late_seq)
    ]
    assert [b.row["status"] for b in as_of(conn, tractors, key, day("2027-02-10")).rows] == ["maintenance"]
    # by landing sequence too: just before the late row landed, the same belief
    assert [b.row["status"] for b in as_of(conn, tractors, key, day("2027-02-10"), late_seq - 1).rows] == ["active"]
    # the history table holds the current beliefs exactly as before: three versions, no overlap
    assert query(
        db,
        "select status, valid_to::date::text from hub3_origin.tractors_history where unit_number = '7302'"
        " order by valid_from",
    ) == [("active", "2027-02-01"), ("maintenance", "2027-02-15"), ("out_of_service", None)]
    # the change feed over versions: the late one added, the one before it cut short
    found = changes(conn, tractors, since=late_seq - 1, key=key, versions=True)
    assert sorted(
        (c.kind, c.key["valid_from"], c.before and c.before.get("valid_to"), c.after.get("valid_to")) for c in found
    ) == [
        ("added", day("2027-02-01"), None, day("2027-02-15")),
        ("changed", day("2027-01-01"), day("2027-02-15"), day("2027-02-01")),
    ]
    # the current record did not change
    assert changes(conn, tractors, since=late_seq - 1, key=key) == []
    # the untouched newest version is still believed since the first file
    assert query(
        db,
        "select known_from from hub3_origin.tractors_history where unit_number = '7302' and status = 'out_of_service'",
    ) == [(day("2027-03-02T09:00"),)]
    # the same questions through Memory (as the read-only reader) and over HTTP
    with Memory(freshness_seconds=60) as memory:
        asked = memory.as_of("tractor", "7302", "2027-02-10", "2027-03-03T00:00:00")
        assert [(b["row"]["status"], b["known_to_seq"]) for b in asked.beliefs] == [("active", late_seq)]
        bounds = asked.provenance.time_bounds
        assert (asked.provenance.store, bounds.known_at) == ("postgres", "2027-03-03T00:00:00+00:00")
        assert "hubs_reader" in asked.provenance.read_as
        assert [b["row"]["status"] for b in memory.as_of("tractor", "7302", "2027-02-10").beliefs] == ["maintenance"]
        web = TestClient(create_app(memory))
        answer = web.get("/entities/tractor/7302/as-of", params={"valid_at": "2027-02-10", "known_at": late_seq - 1})
        assert [b["row"]["status"] for b in answer.json()["beliefs"]] == ["active"]
        fed = web.get("/changes/hub3_origin", params={"since": "2027-03-01T00:00:00Z"}).json()["changes"]
        assert {(c["entity"], c["kind"]) for c in fed if c["key"].get("unit_number") == "7302"} == {
            ("hub3_origin.tractors", "added")
        }
        refused = web.get("/changes/hub3_origin", params={"since": "2027-03-01", "key": "7302"})
        assert refused.status_code == 400 and "one entity" in refused.json()["error"]
        assert web.get("/changes/tractor", params={"since": "yesterday"}).status_code == 400


def fuel_row(url: str, transaction_id: str) -> dict[str, str]:
    """A fuel transaction's landed columns as a file carries them."""
    names = [c.name for c in entity("fuel_transactions").landed_columns]
    [values] = query(
        url,
        f"select {', '.join(names)} from hub3_origin.fuel_transactions where transaction_id = %s",
        (transaction_id,),
    )
    return {
        n: "" if v is None else v.isoformat() if hasattr(v, "isoformat") else str(v)
        for n, v in zip(names, values, strict=True)
    }


def test_changes_between_two_times_for_an_entity_and_a_key(db: str, conn: Connection, landing_dir: Path) -> None:
    start = scalar(db, "select last_value from landing.landing_seq")
    (kept,), (gone,) = query(db, "select transaction_id from hub3_origin.fuel_transactions order by 1 limit 2")
    kept_row, gone_row = fuel_row(db, kept), fuel_row(db, gone)
    moved = "TX" if kept_row["jurisdiction"] != "TX" else "OK"
    inserted_and_updated = [{**kept_row, "transaction_id": "RECALL-1"}, {**kept_row, "jurisdiction": moved}]
    middle = land_on(
        db, folder(landing_dir, "a", {"hub3_origin.fuel_transactions": inserted_and_updated}), "2027-03-02T09:00:00"
    )
    assert_built(build(db, "+fuel_transactions"))
    deleted = {"card_provider": gone_row["card_provider"], "transaction_id": gone, "_deleted": "true"}
    land_on(db, folder(landing_dir, "b", {"hub3_origin.fuel_transactions": [deleted]}), "2027-03-05T09:00:00")
    assert_built(build(db, "+fuel_transactions"))

    fuel = entity("fuel_transactions")
    found = changes(conn, fuel, since=start)
    assert [(c.kind, c.key["transaction_id"]) for c in found] == [
        ("added", "RECALL-1"),
        ("changed", kept),
        ("deleted", gone),
    ]
    added, changed, removed = found
    assert (changed.before, changed.after) == ({"jurisdiction": kept_row["jurisdiction"]}, {"jurisdiction": moved})
    assert added.before is None and added.after["transaction_id"] == "RECALL-1"
    assert removed.after is None and removed.before["jurisdiction"] == gone_row["jurisdiction"]
    assert (changed.at, removed.at) == (day("2027-03-02T09:00"), day("2027-03-05T09:00"))
    # up to the middle the delete had not landed; from a landing time between them, only it had
    assert [c.kind for c in changes(conn, fuel, since=start, until=middle)] == ["added", "changed"]
    assert [c.kind for c in changes(conn, fuel, since=day("2027-03-03"))] == ["deleted"]
    # one key
    assert changes(
        conn, fuel, since=start, key={"card_provider": kept_row["card_provider"], "transaction_id": kept}
    ) == [changed]
    assert changes(conn, fuel, since=start, until=middle, key={"transaction_id": gone}) == []
    assert changes(
        conn, fuel, since=middle, key={"card_provider": gone_row["card_provider"], "transaction_id": gone}
    ) == [removed]
