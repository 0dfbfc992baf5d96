"""Hub 6, corporate: who owns the companies and what keeps them legal.

G owns OpenHaul and Origin Equipment Leasing outright and bought his partner's 40% of Origin
on 2025-07-01; stakes sum to 100% on every date. Origin's units carry a cab card and an IFTA
decal for every year they run, its liability and cargo policies renew each July, OpenHaul's
broker bond runs throughout, and every filing the regulations ask for is made on time. IFTA
returns are computed from the fleet's own miles (by jurisdiction along each trip) and fuel.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from hubs.generate.common import CITIES, END, START, iso, nearest_city, stable_uuid
from hubs.generate.origin import OriginFleet
from hubs.generate.world import GROUP, World

# Diesel tax rates per gallon (approximate 2025 IFTA rates).
TAX_RATES = {
    "AL": 0.31,
    "AZ": 0.26,
    "AR": 0.285,
    "CA": 0.983,
    "CO": 0.325,
    "FL": 0.375,
    "GA": 0.35,
    "ID": 0.33,
    "IL": 0.754,
    "IN": 0.61,
    "IA": 0.325,
    "KY": 0.216,
    "LA": 0.20,
    "MI": 0.31,
    "MN": 0.308,
    "MS": 0.18,
    "MO": 0.27,
    "NE": 0.32,
    "NV": 0.27,
    "NJ": 0.523,
    "NM": 0.21,
    "NC": 0.404,
    "OH": 0.47,
    "OK": 0.19,
    "OR": 0.0,
    "PA": 0.785,
    "TN": 0.27,
    "TX": 0.20,
    "UT": 0.385,
    "VA": 0.41,
    "WA": 0.494,
    "WI": 0.329,
    "ON": 0.45,
}
INSURER = "Great Plains Mutual Insurance Co"
SURETY = "Heartland Surety Company"
YEARS = (2024, 2025, 2026)


def at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)


class Corporate:
    def __init__(self, rng: random.Random, world: World, origin: OriginFleet) -> None:
        self.rng = rng
        self.world = world
        self.origin = origin
        self.entities = {e.code: e for e in GROUP}
        self.rows: dict[str, list[dict]] = {
            name: []
            for name in (
                "ownership_stakes",
                "fmcsa_authorities",
                "credentials",
                "insurance_policies",
                "regulatory_filings",
                "ifta_jurisdiction_lines",
            )
        }
        self.insurer = world.organization(INSURER, ["insurer"], START - timedelta(days=3000))
        self.surety = world.organization(SURETY, ["insurer"], START - timedelta(days=3000))
        self.agency = world.organization("Oklahoma Tax Commission", ["agency"], START - timedelta(days=5000))

    def simulate(self) -> Corporate:
        self.ownership()
        self.authorities()
        self.credentials()
        self.insurance()
        self.filings()
        return self

    def ownership(self) -> None:
        g, dale = self.world.owner.party_id, self.world.partner.party_id
        buyout = at(date(2025, 7, 1))
        stakes = [
            (g, "OH", at(date(2019, 4, 2)), None, "100.00", "formation"),
            (g, "OEL", at(date(2020, 1, 9)), None, "100.00", "formation"),
            (g, "OT", at(date(2016, 8, 15)), buyout, "60.00", "formation"),
            (dale, "OT", at(date(2016, 8, 15)), buyout, "40.00", "formation"),
            (g, "OT", buyout, None, "100.00", "purchase"),
        ]
        for owner, entity, since, until, pct, how in stakes:
            self.rows["ownership_stakes"].append(
                {
                    "owner_party_id": owner,
                    "entity_code": entity,
                    "valid_from": iso(since),
                    "valid_to": iso(until),
                    "ownership_pct": pct,
                    "interest_type": "membership_units",
                    "units": f"{float(pct) * 10:.4f}",
                    "voting": "true",
                    "capital_contributed": "250000.00" if how == "formation" else "1850000.00",
                    "acquired_via": how,
                    "source_document": f"{entity} operating agreement"
                    if how == "formation"
                    else "Membership interest purchase agreement, 2025-07-01",
                    "notes": "",
                }
            )

    def authorities(self) -> None:
        ot, oh = self.entities["OT"], self.entities["OH"]
        records = [
            (ot, "common", at(date(2016, 10, 3)), at(date(2025, 3, 15)), date(2023, 3, 14), 210),
            (ot, "common", at(date(2025, 3, 15)), None, date(2025, 3, 15), 250),
            (oh, "broker", at(date(2019, 6, 3)), None, date(2025, 5, 20), 0),
        ]
        for entity, kind, since, until, mcs150, units in records:
            self.rows["fmcsa_authorities"].append(
                {
                    "usdot_number": entity.usdot,
                    "authority_type": kind,
                    "valid_from": iso(since),
                    "valid_to": iso(until),
                    "docket_number": entity.mc,
                    "entity_code": entity.code,
                    "status": "A",
                    "carrier_operation": "A",
                    "granted_on": iso(date(2016, 10, 3) if entity.code == "OT" else date(2019, 6, 3)),
                    "revoked_on": "",
                    "revocation_type": "",
                    "boc3_on_file": "true",
                    "bipd_required": "750000.00" if kind == "common" else "",
                    "bipd_on_file": "1000000.00" if kind == "common" else "",
                    "cargo_on_file": "false",
                    "bond_on_file": "75000.00" if kind == "broker" else "",
                    "mcs150_date": iso(mcs150),
                    "mcs150_mileage": units * 118000 if units else "",
                    "mcs150_mileage_year": mcs150.year - 1,
                    "power_units": units,
                    "drivers": round(units * 1.2),
                    "hazmat_authorized": "false",
                }
            )

    def credential(
        self,
        kind: str,
        jurisdiction: str,
        number: str,
        entity: str,
        since: date,
        expires: date,
        unit: str = "",
        fee: str = "",
        until: date | None = None,
        **extra: str,
    ) -> None:
        self.rows["credentials"].append(
            {
                "credential_type": kind,
                "jurisdiction": jurisdiction,
                "number": number,
                "valid_from": iso(at(since)),
                "valid_to": iso(at(until)) if until else "",
                "entity_code": entity,
                "unit_number": unit,
                "registration_year": expires.year if kind != "SCAC" else since.year,
                "issued_on": iso(since),
                "expires_on": iso(expires),
                "status": "active" if expires >= END.date() else "expired",
                "fee_paid": fee,
                "weight_class_lbs": extra.get("weight", ""),
                "jurisdictions_apportioned": extra.get("apportioned", ""),
                "issuing_agency": extra.get("agency", "Oklahoma Tax Commission"),
                "document_uri": "",
            }
        )

    def credentials(self) -> None:
        states = "{AR,IL,KS,MO,NM,OK,TX}"
        self.credential(
            "IRP_ACCOUNT", "OK", "OK-IRP-55120", "OT", date(2017, 1, 15), date(2027, 1, 31), apportioned=states
        )
        for year in YEARS:
            jan1, dec31 = date(year, 1, 1), date(year, 12, 31)
            self.credential(
                "IFTA_LICENSE",
                "OK",
                "OK-IFTA-2849315",
                "OT",
                jan1,
                dec31,
                until=date(year + 1, 1, 1) if year < YEARS[-1] else None,
                fee="10.00",
            )
            for code in ("OT", "OH"):
                e = self.entities[code]
                self.credential(
                    "UCR",
                    "US",
                    f"UCR{year}-{e.usdot}",
                    code,
                    date(year - 1, 11, 20),
                    dec31,
                    fee="525.00" if code == "OT" else "41.00",
                    agency="UCR Plan",
                )
            for t in self.origin.tractors:
                start = max(date(year - 1, 12, 15), t.in_service.date())
                if start > dec31 or (t.sold_at and t.sold_at.date() < start):
                    continue
                self.credential(
                    "IRP_CAB_CARD",
                    "OK",
                    f"CC{year}{t.unit}",
                    "OT",
                    start,
                    dec31,
                    unit=t.unit,
                    fee=f"{self.rng.uniform(1600, 2400):.2f}",
                    weight="80000",
                    apportioned=states,
                )
                self.credential("IFTA_DECAL", "OK", f"D{year}-{t.unit}", "OT", start, dec31, unit=t.unit, fee="2.00")
        for code in ("OT", "OH"):
            e = self.entities[code]
            self.credential(
                "SCAC", "US", e.scac, code, date(2026, 7, 1), date(2027, 6, 30), fee="94.00", agency="NMFTA"
            )

    def insurance(self) -> None:
        terms = [
            (at(date(2024, 7, 1)), at(date(2025, 7, 1))),
            (at(date(2025, 7, 1)), at(date(2026, 7, 1))),
            (at(date(2026, 7, 1)), None),
        ]
        lines = [
            ("GPM-AL-77120", "auto_liability", "1000000.00", "2000000.00", "BMC-91X", True),
            ("GPM-CG-77121", "motor_truck_cargo", "100000.00", "250000.00", "BMC-34", False),
            ("GPM-PD-77122", "physical_damage", "180000.00", "", "", False),
            ("GPM-OA-77123", "occupational_accident", "500000.00", "", "", False),
        ]
        for number, coverage, limit, aggregate, form, mcs90 in lines:
            for since, until in terms:
                units = sorted(
                    t.unit
                    for t in self.origin.tractors
                    if t.in_service <= since and (t.sold_at is None or t.sold_at > since)
                )
                self.policy(
                    self.insurer.party_id,
                    number,
                    "OT",
                    coverage,
                    since,
                    until,
                    limit,
                    aggregate,
                    form,
                    mcs90,
                    units if coverage in ("auto_liability", "physical_damage") else [],
                    (until or at(date(2027, 7, 1))).date(),
                )
        self.policy(
            self.surety.party_id,
            "HS-BB-30917",
            "OH",
            "broker_bond",
            at(date(2019, 6, 3)),
            None,
            "75000.00",
            "",
            "BMC-84",
            False,
            [],
            date(2027, 6, 3),
        )
        self.policy(
            self.insurer.party_id,
            "GPM-CC-51004",
            "OH",
            "motor_truck_cargo",
            at(date(2024, 1, 1)),
            None,
            "100000.00",
            "",
            "",
            False,
            [],
            date(2027, 1, 1),
        )

    def policy(
        self,
        insurer: str,
        number: str,
        entity: str,
        coverage: str,
        since: datetime,
        until: datetime | None,
        limit: str,
        aggregate: str,
        form: str,
        mcs90: bool,
        units: list[str],
        expires: date,
    ) -> None:
        self.rows["insurance_policies"].append(
            {
                "insurer_party_id": insurer,
                "policy_number": number,
                "valid_from": iso(since),
                "valid_to": iso(until),
                "entity_code": entity,
                "coverage": coverage,
                "per_occurrence_limit": limit,
                "aggregate_limit": aggregate,
                "deductible": "2500.00" if coverage != "broker_bond" else "",
                "premium": f"{self.rng.uniform(9000, 240000):.2f}",
                "bmc_form": form,
                "mcs90": str(mcs90).lower(),
                "scheduled_units": "{" + ",".join(units) + "}" if units else "",
                "expires_on": iso(expires),
                "cancelled_on": "",
                "agent_name": "Tulsa Truck Insurance Agency",
                "filing_status": "filed" if form else "not_required",
            }
        )

    def filing(
        self,
        entity: str,
        kind: str,
        agency: str,
        start: date,
        end: date,
        due: date,
        filed: date | None,
        amount: str = "",
        details: dict | None = None,
        jurisdiction: str = "US",
    ) -> str:
        filing_id = stable_uuid("filing", entity, kind, iso(start))
        done = filed is not None and filed <= END.date()
        self.rows["regulatory_filings"].append(
            {
                "filing_id": filing_id,
                "entity_code": entity,
                "filing_type": kind,
                "agency": agency,
                "jurisdiction": jurisdiction,
                "period_start": iso(start),
                "period_end": iso(end),
                "due_on": iso(due),
                "filed_on": iso(filed) if done else "",
                "confirmation_number": f"CN{self.rng.randint(10**7, 10**8 - 1)}" if done else "",
                "amount_paid": amount if done else "",
                "late_fee": "",
                "status": "accepted" if done else "upcoming",
                "details": json.dumps(details) if details else "",
                "preparer": "priya",
                "document_uri": "",
                "notes": "",
            }
        )
        return filing_id

    def filings(self) -> None:
        for code in ("OT", "OH"):
            formed = self.entities[code].formed_on
            self.filing(
                code, "BOC-3", "FMCSA", formed, formed, formed + timedelta(days=30), formed + timedelta(days=12)
            )
            for year in YEARS:
                self.filing(
                    code,
                    "UCR",
                    "UCR_PLAN",
                    date(year, 1, 1),
                    date(year, 12, 31),
                    date(year - 1, 12, 31),
                    date(year - 1, 11, 18 + self.rng.randint(0, 9)),
                    amount="525.00" if code == "OT" else "41.00",
                )
            mcs150 = [date(2023, 3, 14), date(2025, 3, 15)] if code == "OT" else [date(2023, 5, 19), date(2025, 5, 20)]
            for filed in mcs150:
                self.filing(code, "MCS-150", "FMCSA", filed, filed, filed, filed)
        for code in ("OT", "OH", "OEL"):
            for year in YEARS:
                self.filing(
                    code,
                    "ANNUAL_REPORT",
                    "SOS",
                    date(year, 1, 1),
                    date(year, 12, 31),
                    date(year, 7, 1),
                    date(year, 6, 10 + self.rng.randint(0, 15)),
                    amount="25.00",
                    jurisdiction="OK",
                )
        for year in YEARS:
            july = date(year, 7, 1)
            units = [
                t
                for t in self.origin.tractors
                if t.in_service.date() <= july and (t.sold_at is None or t.sold_at.date() > july)
            ]
            self.filing(
                "OT",
                "FORM_2290",
                "IRS",
                july,
                date(year + 1, 6, 30),
                date(year, 8, 31),
                date(year, 8, 10 + self.rng.randint(0, 15)),
                amount=f"{550 * len(units):.2f}",
                details={"category": "W", "vins": sorted(t.vin for t in units)},
            )
            self.filing(
                "OT",
                "IRP_RENEWAL",
                "STATE_DMV",
                date(year, 1, 1),
                date(year, 12, 31),
                date(year - 1, 12, 31),
                date(year - 1, 12, 5),
                amount="41250.00",
                jurisdiction="OK",
            )
        self.ifta()

    def ifta(self) -> None:
        """Quarterly IFTA returns from the fleet's own records: miles along each trip by the
        jurisdiction they were driven in, tax-paid gallons from the fuel cards."""
        miles: dict[tuple[int, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        cities = {c.name: c for c in CITIES}
        for trip in self.origin.trips:
            day = datetime.fromisoformat(trip["dispatched_at"])
            quarter = (day.year, (day.month - 1) // 3 + 1)
            a, b = cities[trip["origin_city"]], cities[trip["dest_city"]]
            total = float(trip["loaded_miles"]) + float(trip["empty_miles"])
            for k in range(20):
                f = (k + 0.5) / 20
                state = nearest_city(a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f).state
                miles[quarter][state] += total / 20
        gallons: dict[tuple[int, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for txn in self.origin.rows["fuel_transactions"]:
            if txn["product"] != "DSL":
                continue
            day = datetime.fromisoformat(txn["transacted_at"])
            gallons[(day.year, (day.month - 1) // 3 + 1)][txn["jurisdiction"]] += float(txn["gallons"])
        for year, quarter in sorted(miles):
            start = date(year, 3 * quarter - 2, 1)
            end = (date(year, 3 * quarter, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            if end >= END.date():
                continue  # the quarter is not over yet
            due = (end + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            total_miles = sum(miles[(year, quarter)].values())
            total_gallons = sum(gallons[(year, quarter)].values()) or 1.0
            mpg = round(total_miles / total_gallons, 2)
            lines, tax = [], 0.0
            for state, driven in sorted(miles[(year, quarter)].items()):
                taxable = round(driven)
                paid = round(gallons[(year, quarter)].get(state, 0.0), 3)
                rate = TAX_RATES.get(state, 0.30)
                tax += (round(taxable / mpg) - paid) * rate
                lines.append((state, taxable, paid, rate))
            filing_id = self.filing(
                "OT",
                "IFTA_QUARTERLY",
                "STATE_REVENUE",
                start,
                end,
                due,
                due - timedelta(days=self.rng.randint(3, 20)),
                amount=f"{max(tax, 0):.2f}",
                details={"total_miles": round(total_miles), "total_gallons": round(total_gallons, 3)},
                jurisdiction="OK",
            )
            for state, taxable, paid, rate in lines:
                self.rows["ifta_jurisdiction_lines"].append(
                    {
                        "ifta_license": "OK-IFTA-2849315",
                        "tax_year": year,
                        "quarter": quarter,
                        "jurisdiction": state,
                        "fuel_type": "1",
                        "entity_code": "OT",
                        "filing_id": filing_id,
                        "total_miles": taxable,
                        "taxable_miles": taxable,
                        "fleet_mpg": f"{mpg:.2f}",
                        "tax_paid_gallons": f"{paid:.3f}",
                        "tax_rate": f"{rate:.4f}",
                        "interest_due": "0.00",
                    }
                )

    def rows_by_table(self) -> dict[str, list[dict]]:
        return self.rows
