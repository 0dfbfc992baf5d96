"""Hub 2, OpenHaul: a freight brokerage over the same two years.

Customers tender loads on lanes between the freight cities; each load is quoted, covered by a
carrier whose latest vetting passed (authority active, BIPD >= $750k), confirmed on a rate
confirmation, tracked by check calls and delivered. A share of loads is hauled by Origin
Transport, the group's own carrier: those are the loads of Origin's intercompany trips, so the
two hubs tell the same story. Loads keep every status as a version.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from hubs.generate.common import CITIES, END, START, City, hours, iso, miles_between, money, party_id, stable_uuid
from hubs.generate.origin import OriginFleet
from hubs.generate.spool import Spool
from hubs.generate.staff import Staff
from hubs.generate.world import GROUP, World

WORDS_A = [
    "Summit",
    "Prairie",
    "Redline",
    "Blue River",
    "Iron Horse",
    "Lone Star",
    "Great Lakes",
    "Cascade",
    "Heartland",
    "Frontier",
    "Liberty",
    "Keystone",
    "Magnolia",
    "Pioneer",
    "Sierra",
    "Timberline",
    "Cardinal",
    "Granite",
    "Harbor",
    "Mesa",
    "Northstar",
    "Patriot",
    "Sunbelt",
    "Tri-State",
]
WORDS_B = [
    "Foods",
    "Paper",
    "Steel",
    "Beverage",
    "Building Supply",
    "Plastics",
    "Home Goods",
    "Auto Parts",
    "Produce",
    "Chemical",
    "Electronics",
    "Furniture",
    "Packaging",
    "Grain",
    "Dairy",
    "Retail",
]
CARRIER_B = ["Trucking", "Transport", "Freight Lines", "Logistics", "Express", "Carriers", "Hauling"]
EQUIPMENT = [("V", 70), ("R", 22), ("F", 8)]
ACCESSORIAL_TERMS = (
    '{"detention": {"free_hrs": 2, "per_hr": 50, "cap": 300}, "lumper": "reimbursed with receipt", "tonu": 150}'
)
ACCESSORIAL_TEXT = "Detention $50/hr after 2 free hours, capped at $300; lumper reimbursed with receipt; TONU $150."


# appended once, read in order: kept on disk
SPOOLED = {"check_calls", "loads", "load_stops", "quotes", "rate_confirmations"}


@dataclass
class Carrier:
    usdot: int
    mc: str
    name: str
    party: str
    equipment: list[str]
    onboarded: datetime
    status: str  # approved | conditional | pending | do_not_use
    hazmat: bool
    group: bool = False
    failed_at: datetime | None = None
    vettings: list[dict] = field(default_factory=list)


def _microseconds(moment: datetime) -> int:
    return (moment - START) // timedelta(microseconds=1)


class VettingIndex:
    """Which carriers pass their vetting at a moment, all carriers at once (a load's candidates).

    A carrier passes when the first of its vettings whose [valid_from, valid_to) holds the moment
    passed (an open valid_to lasts ten years past the data). Asking that carrier by carrier made the
    generator quadratic (loads x carriers, both growing with the scale: 40 minutes into scale 10
    it had not finished)."""

    def __init__(self, carriers: list[Carrier]) -> None:
        starts: list[int] = []
        stops: list[int] = []
        owners: list[int] = []
        passed: list[bool] = []
        forever = _microseconds(END + timedelta(days=3650))
        for n, carrier in enumerate(carriers):
            for v in carrier.vettings:
                starts.append(_microseconds(datetime.fromisoformat(v["valid_from"])))
                stops.append(_microseconds(datetime.fromisoformat(v["valid_to"])) if v["valid_to"] else forever)
                owners.append(n)
                passed.append(v["result"] == "pass")
        self.size = len(carriers)
        self.starts, self.stops = np.array(starts, dtype=np.int64), np.array(stops, dtype=np.int64)
        self.owners, self.passed = np.array(owners, dtype=np.int64), np.array(passed, dtype=bool)
        kinds = {e for c in carriers for e in c.equipment}
        self.equipment = {e: np.array([e in c.equipment for c in carriers], dtype=bool) for e in kinds}

    def passing(self, at: datetime) -> np.ndarray:
        moment = _microseconds(at)
        holding = np.flatnonzero((self.starts <= moment) & (moment < self.stops))
        # Vettings are listed carrier by carrier in their order: a carrier's first index is its first vetting.
        carriers, first = np.unique(self.owners[holding], return_index=True)
        result = np.zeros(self.size, dtype=bool)
        result[carriers] = self.passed[holding[first]]
        return result

    def candidates(self, equipment: str, *moments: datetime) -> list[int]:
        """The positions of the carriers with this equipment passing at every moment, in order."""
        chosen = self.equipment.get(equipment, np.zeros(self.size, dtype=bool)).copy()
        for moment in moments:
            chosen &= self.passing(moment)
        return [int(n) for n in np.flatnonzero(chosen)]


class OpenHaulBrokerage:
    def __init__(self, rng: random.Random, scale: float, world: World, origin: OriginFleet, staff: Staff) -> None:
        self.rng = rng
        self.staff = staff
        self.world = world
        self.origin = origin
        self.n_customers = max(6, round(60 * scale))
        self.n_carriers = max(8, round(300 * scale))
        self.n_loads = max(40, round(20000 * scale))
        self.customers: list[dict] = []
        self.carriers: list[Carrier] = []
        self.lanes: dict[tuple, dict] = {}
        self.loads: list[dict] = []  # final state + "_versions" + "_stops" ...
        self.rows: dict[str, list[dict] | Spool] = {
            name: Spool() if name in SPOOLED else []
            for name in (
                "customers",
                "carriers",
                "carrier_vettings",
                "lanes",
                "quotes",
                "loads",
                "load_stops",
                "rate_confirmations",
                "check_calls",
            )
        }
        self._n = {"load": 100000, "quote": 500000, "rc": 300000}

    def _next(self, name: str) -> int:
        self._n[name] += 1
        return self._n[name]

    # -- who ---------------------------------------------------------------------------------------

    def build_customers(self) -> None:
        used: set[str] = set()
        for i in range(self.n_customers):
            name = f"{WORDS_A[i % len(WORDS_A)]} {self.rng.choice(WORDS_B)} {'Inc' if i % 3 else 'LLC'}"
            if party_id("organization", name) in self.world.parties:  # a second company, not the same one
                name = name.replace(" Inc", f" of {CITIES[i % len(CITIES)].name} Inc").replace(
                    " LLC", f" of {CITIES[i % len(CITIES)].name} LLC"
                )
            code = "".join(w[0] for w in name.split()[:3]).upper() + f"{i:02d}"
            while code in used:
                code += "X"
            used.add(code)
            since = START - timedelta(days=self.rng.randint(30, 1500))
            party = self.world.organization(name, ["customer", "shipper"], since)
            party.attrs["hub"] = "hub2_openhaul"
            edi = self.rng.random() < 0.35
            self.customers.append(
                {
                    "customer_code": code,
                    "party_id": party.party_id,
                    "status": "active" if i % 17 else "inactive",
                    "payment_terms_days": self.rng.choice([15, 30, 30, 45, 60]),
                    "credit_limit": money(self.rng.choice([50, 100, 150, 250, 500]) * 1000),
                    "credit_checked_on": iso((START + timedelta(days=self.rng.randint(0, 600))).date()),
                    "credit_score": self.rng.randint(55, 98),
                    "days_to_pay_avg": f"{self.rng.uniform(18, 52):.1f}",
                    "edi_capable": str(edi).lower(),
                    "edi_isa_id": f"ISA{self.rng.randint(10**6, 10**7 - 1)}" if edi else "",
                    "invoice_method": "edi" if edi else self.rng.choice(["email", "portal"]),
                    "billing_email": f"ap@{code.lower()}.example",
                    "requires_pod": "true",
                    "fuel_surcharge_schedule": "DOE national average, $0.01/mi per $0.06 over $1.20",
                    "account_owner_id": self.rng.choice(self.staff.broker_agents),
                    "industry": name.split()[-2].lower() if len(name.split()) > 2 else "retail",
                    "customer_since": iso(since.date()),
                    "annual_volume_loads": 0,
                    "tms_id": f"C{i + 1:05d}",
                    "notes": "",
                }
            )

    def build_carriers(self) -> None:
        origin = next(e for e in GROUP if e.code == "OT")
        self.carriers.append(
            Carrier(
                origin.usdot,
                origin.mc,
                origin.name,
                origin.party_id,
                ["V", "R"],
                START - timedelta(days=1500),
                "approved",
                True,
                group=True,
            )
        )
        for i in range(self.n_carriers):
            name = f"{self.rng.choice(WORDS_A)} {self.rng.choice(CARRIER_B)} {i + 1}"
            since = (
                START - timedelta(days=self.rng.randint(60, 1200))
                if i % 4
                else START + timedelta(days=self.rng.randint(0, 600))
            )
            party = self.world.organization(name, ["carrier"], since, usdot=None, source="fmcsa")
            party.attrs["hub"] = "hub2_openhaul"
            roll = self.rng.random()
            status = (
                "approved"
                if roll < 0.88
                else "conditional"
                if roll < 0.94
                else "pending"
                if roll < 0.97
                else "do_not_use"
            )
            carrier = Carrier(
                1000000 + i * 37 + self.rng.randint(0, 30),
                f"MC{600000 + i * 13}",
                name,
                party.party_id,
                self.rng.sample(["V", "R", "F"], self.rng.choice([1, 1, 2])),
                since,
                status,
                self.rng.random() < 0.08,
            )
            party.attrs.update(usdot=carrier.usdot, mc=carrier.mc)
            if status == "do_not_use":
                carrier.failed_at = since + timedelta(days=self.rng.randint(100, 400))
            self.carriers.append(carrier)
        for carrier in self.carriers:
            self.vet(carrier)

    def vet(self, c: Carrier) -> None:
        """Checks every ~90 days; each is valid until the next. A do-not-use carrier fails once."""
        at = c.onboarded + hours(self.rng.uniform(1, 48))
        while at < END:
            nxt = at + timedelta(days=self.rng.randint(75, 110))
            failed = c.failed_at is not None and at >= c.failed_at
            good = not failed and c.status in ("approved", "conditional")
            bipd = self.rng.choice([750000, 1000000, 1000000, 2000000]) if good else self.rng.choice([0, 300000])
            c.vettings.append(
                {
                    "vetting_id": stable_uuid("vetting", c.usdot, iso(at)),
                    "usdot_number": c.usdot,
                    "valid_from": iso(at),
                    "valid_to": iso(nxt) if nxt < END else "",
                    "source": self.rng.choice(["qcmobile_api", "qcmobile_api", "safer", "carrier_packet"]),
                    "allowed_to_operate": "Y" if good else "N",
                    "common_authority": "A" if good else "I",
                    "contract_authority": "N",
                    "broker_authority": "N",
                    "bipd_on_file": money(bipd),
                    "bipd_required": money(750000),
                    "cargo_limit": money(100000 if good else 0),
                    "coi_expires_on": iso((at + timedelta(days=self.rng.randint(120, 360))).date()),
                    "w9_on_file": "true",
                    "safety_rating": "S" if good and self.rng.random() < 0.4 else "",
                    "vehicle_oos_rate": f"{self.rng.uniform(5, 30):.2f}",
                    "driver_oos_rate": f"{self.rng.uniform(1, 9):.2f}",
                    "result": "pass" if good else ("review" if c.status == "pending" and not failed else "fail"),
                    "reviewer": "auto",
                    "notes": "" if good else "authority or insurance not in force",
                }
            )
            if nxt >= END:
                break
            at = nxt

    # -- loads -------------------------------------------------------------------------------------

    def lane(self, origin: City, dest: City, equipment: str, at: datetime) -> dict:
        key = (origin.name, origin.state, dest.name, dest.state, equipment)
        if key not in self.lanes:
            miles = max(60, round(miles_between(origin, dest)))
            self.lanes[key] = {
                "lane_id": stable_uuid("lane", *key),
                "origin_city": origin.name,
                "origin_state": origin.state,
                "dest_city": dest.name,
                "dest_state": dest.state,
                "equipment": equipment,
                "origin_market": f"{origin.name} mkt",
                "dest_market": f"{dest.name} mkt",
                "practical_miles": miles,
                "market_rate_per_mile": f"{self.rng.uniform(1.9, 3.1) + (0.35 if equipment == 'R' else 0):.3f}",
                "contract_rate_per_mile": "",
                "rate_as_of": iso(END.date() - timedelta(days=3)),
                "rate_source": "dat",
                "fuel_included": "true",
                "loads_last_90d": 0,
                "avg_margin_pct": "",
                "seasonality_index": f"{self.rng.uniform(0.9, 1.15):.2f}",
                "active": "true",
            }
        return self.lanes[key]

    def simulate(self) -> OpenHaulBrokerage:
        self.build_customers()
        self.build_carriers()
        self.vetting = VettingIndex(self.carriers)
        for trip in self.origin.intercompany:
            self.load_for_origin_trip(trip)
        span = (END - START).total_seconds()
        for _ in range(self.n_loads):
            pickup = START + timedelta(seconds=self.rng.uniform(0, span + 12 * 86400))
            self.brokered_load(pickup.replace(minute=0, second=0) + hours(self.rng.choice([6, 7, 8, 9, 13, 14])))
        self.loads.sort(key=lambda load: load["load_number"])
        for load in self.loads:
            self.load_rows(load)
        return self

    def load_for_origin_trip(self, trip: dict) -> None:
        """The OpenHaul load an intercompany Origin trip hauls: Origin is its carrier."""
        origin = next(c for c in CITIES if c.name == trip["origin_city"])
        dest = next(c for c in CITIES if c.name == trip["dest_city"])
        carrier_rate = float(trip["revenue"]) + float(trip["fuel_surcharge"])
        load = self.new_load(
            datetime.fromisoformat(trip["planned_pickup_at"]),
            origin,
            dest,
            "V",
            carrier=self.carriers[0],
            carrier_rate=carrier_rate,
            delivered=datetime.fromisoformat(trip["delivered_at"]),
        )
        trip["openhaul_load_number"] = load["load_number"]

    def brokered_load(self, pickup: datetime) -> None:
        origin = self.rng.choice(CITIES)
        dest = self.rng.choice([c for c in CITIES if c is not origin and miles_between(origin, c) > 120])
        equipment = self.rng.choices([e for e, _ in EQUIPMENT], [w for _, w in EQUIPMENT])[0]
        tendered = pickup - timedelta(days=self.rng.uniform(0.5, 5))
        candidates = [self.carriers[n] for n in self.vetting.candidates(equipment, tendered, pickup) if n > 0]
        carrier = self.rng.choice(candidates) if candidates and tendered < END else None
        self.new_load(pickup, origin, dest, equipment, carrier=carrier, carrier_rate=None, delivered=None)

    def new_load(
        self,
        pickup: datetime,
        origin: City,
        dest: City,
        equipment: str,
        carrier: Carrier | None,
        carrier_rate: float | None,
        delivered: datetime | None,
    ) -> dict:
        lane = self.lane(origin, dest, equipment, pickup)
        miles = lane["practical_miles"]
        customer = self.rng.choice([c for c in self.customers if c["status"] == "active"])
        tendered = pickup - timedelta(days=self.rng.uniform(0.5, 5))
        customer_rate = (
            round(carrier_rate * self.rng.uniform(1.08, 1.18), 2)
            if carrier_rate
            else round(miles * float(lane["market_rate_per_mile"]) * self.rng.uniform(1.02, 1.15) + 150, 2)
        )
        carrier_rate = (
            carrier_rate if carrier_rate is not None else round(customer_rate * self.rng.uniform(0.80, 0.90), 2)
        )
        transit = hours(miles / 48 + (miles // 550) * 10 + 2)
        delivery = pickup + transit
        covered = tendered + hours(self.rng.uniform(0.5, 20)) if carrier else None
        cancelled = carrier is not None and not carrier.group and self.rng.random() < 0.03
        delivered = (
            delivered
            if delivered
            else (delivery + hours(self.rng.uniform(-1, 3)) if carrier and not cancelled else None)
        )
        if delivered and delivered > END:
            delivered = None
        detention = self.rng.random() < 0.1 and delivered is not None and not (carrier and carrier.group)
        billed_detention = self.rng.choice([75, 150, 225]) if detention else 0
        number = f"OH-{self._next('load')}"
        load = {
            "load_number": number,
            "customer_code": customer["customer_code"],
            "carrier_usdot": carrier.usdot if carrier else "",
            "quote_number": "",
            "lane_id": lane["lane_id"],
            "shipper_ref": f"SR{self.rng.randint(10**6, 10**7 - 1)}",
            "bol_number": f"B{self.rng.randint(10**7, 10**8 - 1)}",
            "po_number": f"PO{self.rng.randint(10**5, 10**6 - 1)}",
            "status": "",
            "equipment": equipment,
            "commodity": self.rng.choice(
                ["dry goods", "paper", "beverages", "produce", "frozen foods", "steel coils", "lumber", "auto parts"]
            ),
            "weight_lbs": self.rng.randint(12000, 44000),
            "pieces": self.rng.randint(4, 26),
            "hazmat": "false",
            "temperature_f": "34.0" if equipment == "R" else "",
            "miles": miles,
            "customer_rate": money(customer_rate),
            "carrier_rate": money(carrier_rate) if carrier else "",
            "customer_accessorials": money(billed_detention),
            "carrier_accessorials": money(min(billed_detention, self.rng.choice([75, 150]))) if detention else "0.00",
            "tonu_amount": money(150) if cancelled else "",
            "tendered_at": iso(tendered),
            "covered_at": iso(covered),
            "pickup_at": iso(pickup),
            "delivery_at": iso(delivery),
            "delivered_at": iso(delivered),
            "pod_received_at": iso(delivered + hours(self.rng.uniform(4, 60))) if delivered else "",
            "carrier_bill_received_at": iso(delivered + hours(self.rng.uniform(24, 200))) if delivered else "",
            "dispatcher_id": self.rng.choice(self.staff.broker_agents),
            "_customer": customer,
            "_carrier": carrier,
            "_origin": origin,
            "_dest": dest,
            "_cancelled": cancelled,
        }
        if not carrier:
            load["carrier_rate"] = ""
        self.loads.append(load)
        return load

    # -- rows --------------------------------------------------------------------------------------

    def rows_by_table(self) -> dict[str, list[dict] | Spool]:
        rows = self.rows
        rows["customers"] = self.customers
        for c in self.carriers:
            rows["carrier_vettings"].extend(c.vettings)
            if not c.group:
                rows["carriers"].append(self.carrier_row(c))
            else:
                rows["carriers"].append({**self.carrier_row(c), "is_group_carrier": "true", "preferred": "true"})
        rows["lanes"] = sorted(self.lanes.values(), key=lambda lane: lane["lane_id"])
        return rows

    def carrier_row(self, c: Carrier) -> dict:
        return {
            "usdot_number": c.usdot,
            "mc_docket": c.mc,
            "legal_name": c.name,
            "dba_name": "",
            "party_id": c.party,
            "scac": "",
            "carrier_operation": "A",
            "power_units": self.rng.randint(2, 180),
            "drivers": self.rng.randint(2, 200),
            "safety_rating": "S" if self.rng.random() < 0.4 else "",
            "safety_rating_date": "",
            "onboarding_status": c.status,
            "packet_completed_on": iso(c.onboarded.date()),
            "insurance_expires_on": iso((END + timedelta(days=self.rng.randint(40, 300))).date()),
            "w9_on_file": "true",
            "factor_party_id": "",
            "is_group_carrier": "false",
            "hazmat_carrier": str(c.hazmat).lower(),
            "equipment_types": "{" + ",".join(sorted(c.equipment)) + "}",
            "home_state": self.rng.choice(["OK", "TX", "AR", "MO", "KS", "TN", "GA", "IL"]),
            "payment_terms_days": 30,
            "quick_pay_eligible": str(self.rng.random() < 0.5).lower(),
            "preferred": str(self.rng.random() < 0.15).lower(),
            "out_of_service_date": iso(c.failed_at.date()) if c.failed_at else "",
            "mcs150_date": "",
        }

    def load_rows(self, load: dict) -> None:
        rows = self.rows
        public = {k: v for k, v in load.items() if not k.startswith("_")}
        carrier: Carrier | None = load["_carrier"]
        quote_number = f"Q-{self._next('quote')}"
        tendered = datetime.fromisoformat(load["tendered_at"])
        rows["quotes"].append(
            {
                "quote_number": quote_number,
                "customer_code": load["customer_code"],
                "lane_id": load["lane_id"],
                "quoted_at": iso(tendered - hours(self.rng.uniform(2, 48))),
                "valid_until": iso(tendered + hours(24)),
                "equipment": load["equipment"],
                "weight_lbs": load["weight_lbs"],
                "pickup_date": iso(datetime.fromisoformat(load["pickup_at"]).date()),
                "linehaul_rate": load["customer_rate"],
                "fuel_surcharge": "0.00",
                "accessorials_estimate": "0.00",
                "est_carrier_cost": load["carrier_rate"] or money(float(load["customer_rate"]) * 0.85),
                "competitor_rate": "",
                "status": "won",
                "lost_reason": "",
                "source": self.rng.choice(["email", "phone", "edi"]),
                "quoted_by_id": self.rng.choice(self.staff.broker_agents),
            }
        )
        public["quote_number"] = quote_number
        # status timeline: every change is a version
        steps = [("uncovered", load["tendered_at"])]
        if carrier:
            steps.append(("assigned", load["covered_at"]))
            pickup = datetime.fromisoformat(load["pickup_at"])
            if load["_cancelled"]:
                steps.append(("cancelled", iso(pickup - hours(6))))
            elif pickup - hours(2) < END:
                steps.append(("dispatched", iso(pickup - hours(2))))
                if pickup < END:
                    steps.append(("in_transit", iso(pickup + hours(1.5))))
                if load["delivered_at"]:
                    steps.append(("delivered", load["delivered_at"]))
        for status, at in steps:
            version = {**public, "status": status, "valid_from": at}
            if status in ("uncovered",):
                version.update(carrier_usdot="", carrier_rate="", covered_at="")
            if status != "delivered":
                version.update(delivered_at="", pod_received_at="", carrier_bill_received_at="")
            if status != "cancelled":
                version["tonu_amount"] = ""
            rows["loads"].append(version)
        load["status"] = steps[-1][0]
        self.stops(load)
        if carrier and load["status"] != "uncovered":
            self.rate_confirmations(load, carrier)
        if load["status"] in ("in_transit", "delivered"):
            self.check_calls(load)

    def stops(self, load: dict) -> None:
        pickup = datetime.fromisoformat(load["pickup_at"])
        delivery = datetime.fromisoformat(load["delivery_at"])
        plan = [("pickup", load["_origin"], pickup), ("delivery", load["_dest"], delivery)]
        if self.rng.random() < 0.12:
            plan.insert(1, ("delivery", load["_dest"], delivery - hours(3)))
        done = load["status"] == "delivered"
        for seq, (kind, city, appt) in enumerate(plan, start=1):
            facility = self.world.facility(city, START - timedelta(days=300))
            address_id = facility.attrs["primary_physical"]
            arrived = appt + hours(self.rng.uniform(-0.5, 1.5)) if done else None
            self.rows["load_stops"].append(
                {
                    "load_number": load["load_number"],
                    "stop_seq": seq,
                    "stop_type": kind,
                    "address_id": address_id,
                    "facility_party_id": facility.party_id,
                    "appointment_type": self.rng.choice(["appointment", "fcfs", "window"]),
                    "appt_start": iso(appt),
                    "appt_end": iso(appt + hours(2)),
                    "arrived_at": iso(arrived),
                    "departed_at": iso(arrived + hours(self.rng.uniform(0.5, 3))) if arrived else "",
                    "pieces": load["pieces"],
                    "weight_lbs": load["weight_lbs"],
                    "stop_ref": f"{kind[0].upper()}{self.rng.randint(1000, 9999)}",
                    "status": "completed" if done else "planned",
                    "detention_minutes": 0,
                    "lumper_fee": "",
                    "contact_name": "",
                    "instructions": "",
                }
            )

    def rate_confirmations(self, load: dict, carrier: Carrier) -> None:
        covered = datetime.fromisoformat(load["covered_at"])
        carrier_rate = float(load["carrier_rate"])
        fuel = round(carrier_rate * 0.18, 2)
        linehaul = round(carrier_rate - fuel, 2)
        extra = float(load["carrier_accessorials"])
        versions = [(0.0, covered)] + ([(extra, datetime.fromisoformat(load["delivered_at"]))] if extra else [])
        for number, (approved, issued) in enumerate(versions, start=1):
            self.rows["rate_confirmations"].append(
                {
                    "rate_con_number": f"RC-{self._next('rc')}",
                    "load_number": load["load_number"],
                    "version": number,
                    "carrier_usdot": carrier.usdot,
                    "linehaul": money(linehaul),
                    "fuel_surcharge": money(fuel),
                    "accessorials": ACCESSORIAL_TERMS,
                    "accessorial_terms": ACCESSORIAL_TEXT,
                    "approved_accessorials": money(approved),
                    "total_carrier_pay": money(linehaul + fuel + approved),
                    "payment_terms_days": 30,
                    "equipment": load["equipment"],
                    "issued_at": iso(issued),
                    "signed_at": iso(issued + hours(self.rng.uniform(0.2, 3))),
                    "signed_by": "carrier dispatch",
                    "superseded_at": iso(versions[number][1]) if number < len(versions) else "",
                    "issued_by_id": self.rng.choice(self.staff.broker_agents),
                    "special_instructions": self.rng.choice(
                        [
                            "Driver must call in at pickup and delivery; tracking link required.",
                            "Seal must be intact on arrival; photograph seal number.",
                            "Reefer continuous mode, set point 34F; pulp temperature at pickup.",
                            "No double brokering. Load must be hauled on the carrier's own authority.",
                        ]
                    ),
                    "document_uri": "",
                }
            )

    def check_calls(self, load: dict) -> None:
        pickup = datetime.fromisoformat(load["pickup_at"])
        # positions en route lie between pickup and the actual delivery when there is one
        delivery = datetime.fromisoformat(load["delivered_at"] or load["delivery_at"])
        origin, dest = load["_origin"], load["_dest"]
        events = [("X3", pickup - hours(0.3), origin), ("AF", pickup + hours(1.2), origin)]
        span = (delivery - pickup).total_seconds()
        for k in range(1 + int(span // 43200)):
            f = (k + 1) / (2 + span // 43200)
            lat, lon = origin.lat + (dest.lat - origin.lat) * f, origin.lon + (dest.lon - origin.lon) * f
            at = pickup + timedelta(seconds=span * f)
            events.append(
                (
                    "X6",
                    at,
                    City(origin.name if f < 0.5 else dest.name, origin.state if f < 0.5 else dest.state, lat, lon),
                )
            )
        if load["status"] == "delivered":
            delivered = datetime.fromisoformat(load["delivered_at"])
            events += [("X1", delivered - hours(0.8), dest), ("D1", delivered, dest)]
        source = (
            "eld_gps"
            if load["_carrier"] and load["_carrier"].group
            else self.rng.choice(["edi_214", "tracking_app", "driver_call"])
        )
        for code, at, where in events:
            if at > END + timedelta(days=2):
                continue
            self.rows["check_calls"].append(
                {
                    "check_call_id": stable_uuid("check_call", load["load_number"], code, iso(at)),
                    "load_number": load["load_number"],
                    "reported_at": iso(at),
                    "status_code": code,
                    "reason_code": "NS",
                    "city": where.name,
                    "state": where.state,
                    "lat": f"{where.lat:.6f}",
                    "lon": f"{where.lon:.6f}",
                    "eta": iso(delivery),
                    "miles_remaining": "",
                    "reefer_temp_f": "34.2" if load["equipment"] == "R" else "",
                    "on_time": "true",
                    "source": source,
                    "reported_by": "",
                    "notes": "",
                }
            )
