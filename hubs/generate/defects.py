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
from hubs.generate.spool import Spool

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
    # hub 1
    "hub1_command.persons": {
        "unknown_role": lambda r, n: _with(r, person_id=_id("person", n), handle=f"q{n}", role="wizard"),
    },
    "hub1_command.goals": {
        "bad_period": lambda r, n: _with(r, goal_id=_id("goal", n), period="2025-Q5"),
    },
    "hub1_command.projects": {
        "due_before_start": lambda r, n: _with(
            r, project_id=_id("project", n), code=f"Q-{n}", start_date="2026-05-01", due_date="2026-01-01"
        ),
    },
    "hub1_command.meeting_notes": {"missing_body": lambda r, n: _with(r, note_id=_id("note", n), body="")},
    "hub1_command.decisions": {
        "unknown_status": lambda r, n: _with(r, decision_id=_id("decision", n), status="maybe", superseded_by=""),
    },
    "hub1_command.tasks": {
        "done_without_completion": lambda r, n: _with(r, task_id=_id("task", n), status="done", completed_at=""),
    },
    "hub1_command.insights": {
        "confidence_out_of_range": lambda r, n: _with(r, insight_id=_id("insight", n), confidence="1.70")
    },
    # hub 2
    "hub2_openhaul.customers": {"bad_code": lambda r, n: _with(r, customer_code=f"q{n}", status="active")},
    "hub2_openhaul.carriers": {"bad_docket": lambda r, n: _with(r, usdot_number=90000000 + n, mc_docket=f"MC-{n}")},
    "hub2_openhaul.carrier_vettings": {
        "pass_without_authority": lambda r, n: _with(
            r,
            vetting_id=_id("vetting", n),
            result="pass",
            allowed_to_operate="N",
            valid_from="2030-01-01T00:00:00+00:00",
            valid_to="",
        ),
    },
    "hub2_openhaul.lanes": {"unknown_equipment": lambda r, n: _with(r, lane_id=_id("lane", n), equipment="Z")},
    "hub2_openhaul.quotes": {
        "expires_before_quoted": lambda r, n: _with(
            r, quote_number=f"Q-9{n:06d}", valid_until="2020-01-01T00:00:00+00:00"
        ),
    },
    "hub2_openhaul.loads": {
        "no_carrier_in_transit": lambda r, n: _with(
            r, load_number=f"OH-9{n:06d}", status="in_transit", carrier_usdot="", carrier_rate=""
        ),
        "unparseable_date": lambda r, n: _with(r, load_number=f"OH-9{n:06d}", pickup_at="next tuesday"),
    },
    "hub2_openhaul.load_stops": {"unknown_stop_type": lambda r, n: _with(r, stop_seq=100 + n, stop_type="transfer")},
    "hub2_openhaul.rate_confirmations": {
        "total_below_linehaul": lambda r, n: _with(
            r, rate_con_number=f"RC-9{n:06d}", version=100 + n, total_carrier_pay="1.00"
        ),
    },
    "hub2_openhaul.check_calls": {
        "unknown_status_code": lambda r, n: _with(r, check_call_id=_id("cc", n), status_code="ZZ")
    },
    # hub 4
    "hub4_contacts.parties": {
        "unknown_party_type": lambda r, n: _with(
            r, party_id=_id("party", n), party_type="robot", usdot_number="", mc_docket=""
        )
    },
    "hub4_contacts.party_categories": {
        "unknown_category": lambda r, n: _with(
            r, category="alien", valid_from=f"2030-01-{n % 28 + 1:02d}T00:00:00+00:00"
        ),
    },
    "hub4_contacts.addresses": {
        "bad_postal_code": lambda r, n: _with(
            r, address_id=_id("address", n), normalized_key=f"Q{n}", postal_code="ABCDE", country="US"
        ),
    },
    "hub4_contacts.party_addresses": {
        "unknown_address_type": lambda r, n: _with(
            r, address_type="moon", valid_from=f"2030-02-{n % 28 + 1:02d}T00:00:00+00:00"
        ),
    },
    "hub4_contacts.party_relationships": {
        "related_to_itself": lambda r, n: _with(r, relationship_id=_id("rel", n), to_party_id=r["from_party_id"]),
    },
    "hub4_contacts.contact_points": {"bad_phone": lambda r, n: _with(r, channel="phone", value=f"555-{n:04d}")},
    # hub 5
    "hub5_financial.legal_entities": {
        "bad_ein": lambda r, n: _with(
            r, entity_code=f"QZ{chr(65 + n % 26)}", ein="731842951", usdot_number="", mc_docket=""
        )
    },
    "hub5_financial.gl_accounts": {
        "normal_balance_mismatch": lambda r, n: _with(
            r,
            account_number=f"99{n:02d}",
            account_type="revenue",
            normal_balance="debit",
            is_intercompany="false",
            counterparty_entity="",
            parent_account_number="",
        ),
    },
    "hub5_financial.ar_invoices": {
        "due_before_invoice": lambda r, n: _with(r, invoice_number=f"QX{n:08d}", due_date="2020-01-01"),
    },
    "hub5_financial.ap_bills": {
        "negative_amount": lambda r, n: _with(r, vendor_invoice_number=f"QX{n}", amount="-12.00")
    },
    "hub5_financial.payments": {
        "zero_amount": lambda r, n: _with(r, payment_id=_id("payment", n), amount="0.00", applications="[]")
    },
    "hub5_financial.invoice_load_matches": {"bad_reference": lambda r, n: _with(r, load_ref=f"XX-{n}")},
    "hub5_financial.intercompany_txns": {
        "same_entity_both_sides": lambda r, n: _with(r, ic_txn_id=_id("ic", n), to_entity=r["from_entity"]),
    },
    "hub5_financial.factoring_assignments": {
        "advance_over_face": lambda r, n: _with(r, schedule_number=f"Q{n}", advance_rate="1.5000"),
    },
    # hub 6
    "hub6_corporate.ownership_stakes": {
        "over_100_percent": lambda r, n: _with(
            r, ownership_pct="150.00", valid_from=f"2031-01-{n % 28 + 1:02d}T00:00:00+00:00", valid_to=""
        ),
    },
    "hub6_corporate.fmcsa_authorities": {
        "unknown_status": lambda r, n: _with(
            r, status="X", valid_from=f"2031-02-{n % 28 + 1:02d}T00:00:00+00:00", valid_to=""
        ),
    },
    "hub6_corporate.credentials": {"unknown_type": lambda r, n: _with(r, credential_type="MAGIC", number=f"Q{n}")},
    "hub6_corporate.insurance_policies": {
        "liability_below_minimum": lambda r, n: _with(
            r, policy_number=f"Q-{n}", coverage="auto_liability", per_occurrence_limit="500000.00"
        ),
    },
    "hub6_corporate.regulatory_filings": {
        "2290_not_july": lambda r, n: _with(
            r,
            filing_id=_id("filing", n),
            filing_type="FORM_2290",
            agency="IRS",
            period_start="2025-03-01",
            period_end="2026-02-28",
        ),
    },
    "hub6_corporate.ifta_jurisdiction_lines": {
        "not_an_ifta_jurisdiction": lambda r, n: _with(r, jurisdiction="AK", tax_year=2099, quarter=1 + n % 4),
    },
}


def _id(kind: str, n: int) -> str:
    return stable_uuid("bad", kind, n)


def inject(rng: random.Random, stem: str, rows: list[Row] | Spool, share: float) -> tuple[list[Row], dict[str, int]]:
    """Bad rows to append to `rows` (about `share` of them, at least one per kind).

    Returns the bad rows and how many quarantined rows each defect kind must produce.
    """
    kinds = DEFECTS.get(stem, {})
    if not kinds or not len(rows):
        return [], {}
    wanted = max(len(kinds), round(len(rows) * share))
    names = sorted(kinds)
    # every draw first, then the rows they name in one pass: a spool is read in order
    draws = []
    for i in range(wanted):
        name = names[i % len(names)]
        position = rng.randrange(len(rows))
        if name == "overlap":  # needs a closed interval to overlap with: the first one from here on
            position = rng.randrange(len(rows))
        draws.append((name, position))
    # "overlap" scans on from its draw, so it wants a list; otherwise a spool is read once
    table = list(rows) if isinstance(rows, Spool) and "overlap" in kinds else rows
    picked = table.at(p for _, p in draws) if isinstance(table, Spool) else table
    expected: dict[str, int] = {}
    bad: list[Row] = []
    for i, (name, position) in enumerate(draws):
        source = next(r for r in table[position:] + table if r["valid_to"]) if name == "overlap" else picked[position]
        spoiled = kinds[name](source, i + 1)
        bad.extend(spoiled)
        expected[name] = expected.get(name, 0) + len(spoiled)
    return bad, expected
