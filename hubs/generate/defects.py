"""A small, known share of bad rows, so quarantine is exercised and measurable.

Each bad row is a copy of a good row under a fresh key with exactly one defect, so nothing
else depends on it and the expected quarantine count per entity is exact. The kinds are the
ones real feeds send: bad VINs, negative gallons, unknown statuses, unparseable dates,
missing keys, parents that do not exist, overlapping assignments, keys repeated in a file.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hubs.generate.common import spoil_vin, stable_uuid, vin_check_digit

Row = dict[str, Any]
# defect name -> how it spoils a copy of a good row (given a fresh serial number)
Spoiler = Callable[[Row, int], list[Row]]


def _with(row: Row, **changes: Any) -> list[Row]:
    return [{**row, **changes}]


def _fresh_vin(vin: str, n: int) -> str:
    body = vin[:11] + f"{900000 + n:06d}"
    return body[:8] + vin_check_digit(body) + body[9:]


def _fresh_tractor(row: Row, n: int, **changes: Any) -> list[Row]:
    return _with(row, **{"unit_number": f"Q{n:04d}", "vin": _fresh_vin(row["vin"], n), **changes})


DEFECTS: dict[str, dict[str, Spoiler]] = {
    "hub3_origin.tractors": {
        "bad_vin": lambda r, n: _with(r, unit_number=f"Q{n:04d}", vin=spoil_vin(r["vin"])),
        "unknown_status": lambda r, n: _fresh_tractor(r, n, status="parked"),
        "unparseable_date": lambda r, n: _fresh_tractor(r, n, purchase_date="13/45/2024"),
        "missing_key": lambda r, n: _fresh_tractor(r, n, unit_number=""),
    },
    "hub3_origin.trailers": {
        "unknown_length": lambda r, n: _with(r, trailer_number=f"Q{n:05d}", vin="", length_ft="50"),
        "unknown_status": lambda r, n: _with(r, trailer_number=f"Q{n:05d}", vin="", status="stolen"),
    },
    "hub3_origin.drivers": {
        "unknown_status": lambda r, n: _with(r, driver_code=f"QD{n:04d}", cdl_number=f"Q{n}", status="on_leave"),
        "unparseable_date": lambda r, n: _with(r, driver_code=f"QD{n:04d}", cdl_number=f"Q{n}", hire_date="2021-02-30"),
    },
    "hub3_origin.driver_assignments": {
        # the same driver again, in the middle of an assignment they already hold
        "overlap": lambda r, n: _with(
            r,
            assignment_id=stable_uuid("bad-assignment", n),
            unit_number=r["unit_number"],
            seat="co_driver" if r["seat"] == "primary" else "primary",
        ),
        "missing_parent": lambda r, n: _with(r, assignment_id=stable_uuid("bad-assignment", n), driver_code="GHOST1"),
    },
    "hub3_origin.trips": {
        "unknown_status": lambda r, n: _with(r, trip_number=f"OT-9{n:06d}", status="lost"),
        "missing_parent": lambda r, n: _with(r, trip_number=f"OT-9{n:06d}", unit_number="0000"),
    },
    "hub3_origin.fuel_transactions": {
        "negative_gallons": lambda r, n: _with(r, transaction_id=f"Q{n}", gallons="-41.200"),
        "unknown_jurisdiction": lambda r, n: _with(r, transaction_id=f"Q{n}", jurisdiction="ZZ"),
        "unparseable_date": lambda r, n: _with(r, transaction_id=f"Q{n}", transacted_at="yesterday"),
        # the same key twice in one file: both copies are quarantined
        "duplicate_key": lambda r, n: [{**r, "transaction_id": f"Q{n}"}, {**r, "transaction_id": f"Q{n}"}],
    },
    "hub3_origin.inspections": {
        "oos_exceeds_violations": lambda r, n: _with(
            r,
            inspection_id=stable_uuid("bad-inspection", n),
            report_number=f"Q{n}" if r["report_number"] else "",
            viol_total=0,
            oos_total=2,
        ),
    },
    "hub3_origin.maintenance_orders": {
        "closed_before_opened": lambda r, n: _with(
            r, ro_number=f"RO-9{n:06d}", status="done", closed_at="2024-01-01T00:00:00+00:00"
        ),
    },
    "hub3_origin.hos_events": {
        "unknown_event_type": lambda r, n: _with(r, event_seq_id=60000 + n, event_type=9),
    },
}


def inject(rng: random.Random, stem: str, rows: list[Row], share: float) -> tuple[list[Row], dict[str, int]]:
    """Appends bad rows (about `share` of the good ones, at least one per kind).

    Returns the rows to write and how many quarantined rows each defect kind must produce.
    """
    kinds = DEFECTS.get(stem, {})
    if not kinds or not rows:
        return rows, {}
    wanted = max(len(kinds), round(len(rows) * share))
    names = sorted(kinds)
    expected: dict[str, int] = {}
    bad: list[Row] = []
    for i in range(wanted):
        name = names[i % len(names)]
        source = rows[rng.randrange(len(rows))]
        if name == "overlap":  # needs a closed interval to overlap with
            source = next(r for r in rows[rng.randrange(len(rows)) :] + rows if r["valid_to"])
        spoiled = kinds[name](source, i + 1)
        bad.extend(spoiled)
        expected[name] = expected.get(name, 0) + len(spoiled)
    return rows + bad, expected
