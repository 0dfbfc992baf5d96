"""One row must not stop everything: a value that would break a later step (a build, a store
sync) is quarantined with its reason, the good rows of the same file are accepted, and the
build goes on. Also: a batch is judged against the state it produces (a same-instant handover),
and a timestamp without a zone means the same instant on every machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubs.catalog import load_catalog
from tests.helpers import assert_built, build, land, query, scalar, write_csv
from tests.test_landing import tractor
from tests.test_staging import assert_reconciled

DEEP = "[" * 100_000 + "]" * 100_000


def landed_row(url: str, entity: str, where: str, params: tuple = (), **changes: Any) -> dict[str, str]:
    """A current hub row as a landing file would carry it (text, JSON for jsonb and arrays)."""
    columns = [c.name for c in load_catalog().by_file_stem(entity).landed_columns]
    [(row,)] = query(url, f"select to_jsonb(t) from {entity} as t where {where} limit 1", params)
    text = {
        c: ""
        if row[c] is None
        else json.dumps(row[c])
        if isinstance(row[c], list | dict)
        else str(row[c]).lower()
        if isinstance(row[c], bool)
        else str(row[c])
        for c in columns
    }
    return {**text, **changes}


def quarantined(url: str, entity: str, column: str, value: str) -> list[str]:
    """The reasons of the quarantined row of `entity` whose raw `column` is `value`."""
    rows = query(
        url, "select reasons from quarantine.rows where entity = %s and raw ->> %s = %s", (entity, column, value)
    )
    assert len(rows) == 1, (entity, value, rows)
    return rows[0][0]


def accepted(url: str, entity: str, column: str, value: str) -> int:
    return scalar(url, f"select count(*) from {entity} where {column}::text = %s", (value,))


def fresh(entity: str, key: str, n: int) -> dict[str, str]:
    """A new key (and, for tractors, a new VIN: it is unique) for a copied row."""
    if load_catalog().by_file_stem(entity).column(key).data_type == "uuid":
        return {key: f"00000000-0000-4000-8000-{n:012d}"}
    changes = {key: f"P{n:03d}"}
    if entity == "hub3_origin.tractors":
        changes["vin"] = tractor(str(7300 + n))["vin"]
    return changes


# (entity, key column, where of a row to copy, poison column, poison value, expected reason start)
POISON = [
    (
        "hub1_command.insights",
        "insight_id",
        "true",
        "evidence",
        "[1]",
        'shape: evidence must be a JSON array of objects, each with a string "table"',
    ),
    ("hub1_command.insights", "insight_id", "true", "evidence", DEEP, "type: evidence is nested deeper than 64 levels"),
    (
        "hub5_financial.payments",
        "payment_id",
        "true",
        "applications",
        '[{"doc_type": ["ar_invoice"], "amount": 1}]',
        'shape: applications must be a JSON array of objects, each with a string "doc_type"',
    ),
    (
        "hub6_corporate.regulatory_filings",
        "filing_id",
        "details ? 'vins'",
        "details",
        '{"vins": 5}',
        'shape: details must be a JSON object whose "vins" is an array',
    ),
    (
        "hub6_corporate.insurance_policies",
        "policy_number",
        "true",
        "scheduled_units",
        json.dumps(["6520", "x" * 600]),
        "type: scheduled_units has an element over 500 bytes",
    ),
    (
        "hub6_corporate.insurance_policies",
        "policy_number",
        "true",
        "scheduled_units",
        DEEP,
        "type: scheduled_units is nested deeper than 64 levels",
    ),
    (
        "hub3_origin.tractors",
        "unit_number",
        "true",
        "purchase_date",
        "2024-01-01 BC",
        "type: purchase_date '2024-01-01 BC' is not a valid date",
    ),
    (
        "hub3_origin.tractors",
        "unit_number",
        "true",
        "valid_from",
        "0001-01-01T00:00:00+05:00",
        "type: valid_from '0001-01-01T00:00:00+05:00' is not a valid timestamptz",
    ),
    (
        "hub3_origin.tractors",
        "unit_number",
        "true",
        "valid_from",
        "infinity",
        "type: valid_from 'infinity' is not a valid timestamptz",
    ),
]


def test_poison_values_are_quarantined_and_the_build_goes_on(db: str, landing_dir: Path) -> None:
    """Each poison value in its own fresh row, next to a good fresh row of the same file."""
    files: dict[str, list[dict[str, str]]] = {}
    expected: list[tuple[str, str, str, str]] = []
    for n, (entity, key, where, column, value, reason) in enumerate(POISON):
        rows = files.setdefault(entity, [])
        if not rows:
            rows.append(landed_row(db, entity, where, **fresh(entity, key, 2 * n)))
            expected.append((entity, key, rows[-1][key], ""))
        rows.append(landed_row(db, entity, where, **fresh(entity, key, 2 * n + 1), **{column: value}))
        expected.append((entity, key, rows[-1][key], reason))
    # One key too long for any index: the key itself is the poison.
    long_unit = "U" * 20_000
    files["hub3_origin.tractors"].append(tractor(long_unit))
    for entity, rows in files.items():
        write_csv(landing_dir / f"{entity}.csv", rows)
    land(landing_dir)

    assert_built(build(db, *(f"+{e.split('.')[1]}" for e in files)))
    for entity, key, value, reason in expected:
        if reason:
            reasons = quarantined(db, entity, key, value)
            assert any(r.startswith(reason) for r in reasons), (entity, value, reasons)
            assert accepted(db, entity, key, value) == 0
        else:
            assert accepted(db, entity, key, value) == 1, (entity, value)
    assert quarantined(db, "hub3_origin.tractors", "unit_number", long_unit) == [
        "type: unit_number is 20000 bytes long; a key or indexed value takes at most 500 bytes"
    ]
    # the raw value stays whole in quarantine (and in landing)
    assert scalar(
        db, "select length(raw ->> 'evidence') from quarantine.rows where raw ->> 'evidence' like '[[[%'"
    ) == (len(DEEP))
    assert_reconciled(db)
    # and the next build, with nothing new, still succeeds
    assert_built(build(db, "+insights", "+tractors"))


def test_json_values_of_the_wrong_type_are_quarantined_with_the_reason(db: str, landing_dir: Path) -> None:
    """JSONL: an object where a string belongs is not landed as text to be accepted."""
    good = landed_row(db, "hub3_origin.tractors", "true", unit_number="7501", vin=tractor("7501")["vin"])
    bad = landed_row(db, "hub3_origin.tractors", "true", unit_number="7502", vin=tractor("7502")["vin"])
    lines = [
        {k: v for k, v in good.items() if v != ""} | {"model_year": 2022},
        {k: v for k, v in bad.items() if v != ""} | {"make": {"nested": {"a": 1}}, "model": True},
    ]
    (landing_dir / "hub3_origin.tractors.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    land(landing_dir)
    assert_built(build(db, "+tractors"))
    assert accepted(db, "hub3_origin.tractors", "unit_number", "7501") == 1
    assert quarantined(db, "hub3_origin.tractors", "unit_number", "7502") == [
        "type: make is a JSON object, expected a string",
        "type: model is a JSON boolean, expected a string",
    ]
    [(raw,)] = query(db, "select raw from quarantine.rows where raw ->> 'unit_number' = '7502'")
    assert json.loads(raw["make"]) == {"nested": {"a": 1}} and "_load_errors" not in raw
    assert_reconciled(db)


def open_assignment(url: str) -> dict[str, str]:
    return landed_row(
        url,
        "hub3_origin.driver_assignments",
        "valid_to is null and seat = 'primary' order by assignment_id desc",
    )


def a_ctid(url: str, row: dict[str, str]) -> str:
    return scalar(
        url, "select ctid::text from hub3_origin.driver_assignments where assignment_id = %s", (row["assignment_id"],)
    )


def free_driver(url: str, since: str) -> str:
    """A driver with no assignment at or after `since` (the per-driver exclusion allows B)."""
    return scalar(
        url,
        "select driver_code from hub3_origin.drivers as d where not exists (select 1 from"
        " hub3_origin.driver_assignments as a where a.driver_code = d.driver_code"
        " and tstzrange(a.valid_from, a.valid_to) && tstzrange(%s::timestamptz, null)) order by 1 limit 1",
        (since,),
    )


@pytest.mark.parametrize("order", ["close_first", "open_first", "two_files"])
def test_same_instant_handover_is_accepted(db: str, landing_dir: Path, order: str) -> None:
    handover = "2026-12-01T00:00:00+00:00"
    a = open_assignment(db)
    closed = {**a, "valid_to": handover}
    # B's key sorts before A's, so an upsert taking rows in key order would insert B first.
    b = {
        **a,
        "assignment_id": "00000000-0000-4000-8000-000000000001",
        "driver_code": free_driver(db, handover),
        "valid_from": handover,
        "valid_to": "",
        "odometer_end": "",
        "reason": "swap",
    }
    if order == "two_files":
        first, second = landing_dir / "a", landing_dir / "b"
        first.mkdir()
        second.mkdir()
        write_csv(first / "hub3_origin.driver_assignments.csv", [closed])
        write_csv(second / "hub3_origin.driver_assignments.csv", [b])
        land(first, second)
    else:
        rows = [closed, b] if order == "close_first" else [b, closed]
        write_csv(landing_dir / "hub3_origin.driver_assignments.csv", rows)
        land(landing_dir)
    assert_built(build(db, "+driver_assignments"))
    assert scalar(db, "select count(*) from quarantine.rows where entity = 'hub3_origin.driver_assignments'") == (
        scalar(db, "select count(*) from staging.stg_hub3_origin__driver_assignments where not _accepted")
    )
    assert query(
        db,
        "select assignment_id::text, valid_from, valid_to from hub3_origin.driver_assignments"
        " where assignment_id in (%s, %s) order by valid_from",
        (a["assignment_id"], b["assignment_id"]),
    ) == [
        (a["assignment_id"], *query(db, "select %s::timestamptz, %s::timestamptz", (a["valid_from"], handover))[0]),
        (b["assignment_id"], *query(db, "select %s::timestamptz, null::timestamptz", (handover,))[0]),
    ]
    assert_reconciled(db)


def test_existing_assignment_moved_into_a_seat_handed_over_at_the_same_instant(db: str, landing_dir: Path) -> None:
    """Two updates in one batch: A's seat is closed at T and C (an older assignment, stored
    before A, with a smaller key) is moved into that seat at T. Applied in storage or key
    order, C's update would meet A's old open interval; the hub build applies A first."""
    handover = "2026-12-01T00:00:00+00:00"
    a = landed_row(
        db,
        "hub3_origin.driver_assignments",
        "valid_to is null and seat = 'primary' order by ctid desc, assignment_id desc",
    )
    c = landed_row(
        db,
        "hub3_origin.driver_assignments",
        "valid_to is not null and driver_code <> %s and assignment_id < %s::uuid and ctid < %s::tid"
        " and not exists (select 1 from hub3_origin.driver_assignments o where o.driver_code = t.driver_code"
        " and o.assignment_id <> t.assignment_id and tstzrange(o.valid_from, o.valid_to) && tstzrange(%s, null))"
        " order by ctid",
        (a["driver_code"], a["assignment_id"], a_ctid(db, a), handover),
    )
    moved = {**c, "unit_number": a["unit_number"], "seat": "primary", "valid_from": handover}
    moved.update(valid_to="", odometer_start="", odometer_end="")
    write_csv(landing_dir / "hub3_origin.driver_assignments.csv", [{**a, "valid_to": handover}, moved])
    land(landing_dir)
    assert_built(build(db, "+driver_assignments"))
    assert query(
        db,
        "select assignment_id::text, valid_to is null from hub3_origin.driver_assignments"
        " where unit_number = %s and seat = 'primary' and valid_from <= %s order by valid_from desc limit 2",
        (a["unit_number"], handover),
    ) == [(c["assignment_id"], True), (a["assignment_id"], False)]
    assert_reconciled(db)


def test_handover_that_would_overlap_is_still_refused(db: str, landing_dir: Path) -> None:
    """The batch's own state still counts: B opening before A closes overlaps A's new version."""
    a = open_assignment(db)
    closed = {**a, "valid_to": "2026-12-01T00:00:00+00:00"}
    b = {
        **a,
        "assignment_id": "00000000-0000-4000-8000-000000000002",
        "driver_code": free_driver(db, "2026-11-30T00:00:00+00:00"),
        "valid_from": "2026-11-30T00:00:00+00:00",
        "valid_to": "",
        "odometer_end": "",
    }
    write_csv(landing_dir / "hub3_origin.driver_assignments.csv", [closed, b])
    land(landing_dir)
    assert_built(build(db, "+driver_assignments"))
    assert quarantined(db, "hub3_origin.driver_assignments", "assignment_id", b["assignment_id"]) == [
        "overlap: driver_assignments_no_overlap_per_seat - overlaps another row"
    ]
    assert scalar(
        db,
        "select valid_to is not null from hub3_origin.driver_assignments where assignment_id = %s",
        (a["assignment_id"],),
    )


def test_timestamp_without_zone_is_read_as_utc_whatever_the_session_zone(
    db: str, landing_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGTZ", "America/Chicago")
    write_csv(
        landing_dir / "hub3_origin.tractors.csv",
        [tractor("7601", valid_from="2025-03-01T10:00:00"), tractor("7602", valid_from="2025-03-01 10:00")],
    )
    land(landing_dir)
    assert_built(build(db, "+tractors"))
    assert query(
        db,
        "select unit_number, to_char(valid_from at time zone 'UTC', 'YYYY-MM-DD HH24:MI')"
        " from hub3_origin.tractors where unit_number in ('7601', '7602') order by 1",
    ) == [("7601", "2025-03-01 10:00"), ("7602", "2025-03-01 10:00")]
