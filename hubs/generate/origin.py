"""Hub 3, Origin Transport: a fleet simulated day by day.

Drivers rotate through tractors (never two seats at once), each assignment runs trips between
freight cities, and every trip leaves the traces a real one does: ELD duty-status events,
fuel card purchases along the route, a pre-trip DVIR, now and then a roadside inspection or a
repair order that takes the unit down for a few days. Odometers only go up, drivers only
drive while licensed, sold units end their assignments first, units down at the end have an
open repair order: the data passes hub 3's validations by construction.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hubs.generate.common import (
    CITIES,
    END,
    FIRST_NAMES,
    HOME,
    LAST_NAMES,
    START,
    City,
    hours,
    iso,
    make_vin,
    miles_between,
    money,
    nearest_city,
    party_id,
    stable_uuid,
)
from hubs.generate.spool import Spool
from hubs.generate.world import World

MAKES = [  # (make, model, WMI, engine make, share)
    ("Freightliner", "Cascadia 126", "3AK", "Detroit", 35),
    ("Kenworth", "T680", "1XK", "PACCAR", 15),
    ("Peterbilt", "579", "1XP", "PACCAR", 15),
    ("Volvo", "VNL 860", "4V4", "Volvo", 15),
    ("International", "LT625", "3HS", "Cummins", 10),
    ("Mack", "Anthem", "1M1", "Mack", 10),
]
TRAILER_MAKES = [("Utility", "1UY"), ("Great Dane", "1GR"), ("Wabash", "1JJ"), ("Hyundai Translead", "3H3")]
LESSORS = ["XTRA Lease", "Premier Trailer Leasing", "Ryder"]
SHOPS = ["Rush Truck Center - Tulsa", "TA Truck Service", "Speedco", "Fleet Pride Service", "Boss Shop"]
IN_HOUSE_SHOP = "Origin Shop - Tulsa"
CHAINS = ["Pilot", "Flying J", "Love's", "TA", "Petro", "Sapp Bros"]
CUSTOMERS = [
    "Acme Foods",
    "Great Plains Grain Co",
    "Redbird Retail",
    "Sooner Steel",
    "Lone Star Beverages",
    "Heartland Paper",
    "Prairie Building Supply",
    "Ozark Poultry",
]
COMMODITIES = [
    "dry groceries",
    "paper products",
    "beverages",
    "building materials",
    "auto parts",
    "consumer electronics",
    "furniture",
    "packaging",
]
REEFER_COMMODITIES = ["frozen poultry", "fresh produce", "dairy", "frozen foods"]
HAZMAT_COMMODITIES = ["paint (UN1263)", "corrosive cleaner (UN1760)"]
REPAIRS = [  # (category, vmrs, complaint, cause, correction, labor hours, parts)
    (
        "repair",
        "013-001-001",
        "Brakes pulling right",
        "Right steer brake chamber leaking",
        "Replaced brake chamber, adjusted slack",
        2.5,
        380,
    ),
    (
        "repair",
        "042-001-001",
        "Engine overheating on grades",
        "Radiator cooling fan clutch failed",
        "Replaced fan clutch",
        3.0,
        910,
    ),
    (
        "breakdown",
        "045-003-002",
        "Check engine light, derate",
        "Clogged DPF",
        "Removed and cleaned DPF, forced regen",
        4.5,
        650,
    ),
    (
        "repair",
        "034-002-001",
        "Air leak at rear",
        "Cracked air line to trailer",
        "Replaced gladhand and air line",
        1.0,
        95,
    ),
    (
        "tire",
        "017-001-001",
        "Steer tire worn",
        "Irregular wear from misalignment",
        "Replaced steer tires, aligned front end",
        2.0,
        1150,
    ),
    (
        "preventive",
        "001-001-001",
        "PM-A service due",
        "Scheduled maintenance",
        "Oil, filters, grease, inspection",
        3.5,
        420,
    ),
    ("breakdown", "032-004-001", "No start", "Failed starter motor", "Replaced starter", 2.0, 540),
    ("repair", "044-001-001", "DEF warning light", "NOx sensor fault", "Replaced outlet NOx sensor", 1.5, 780),
]
DEFECTS = [
    ("lights", "right marker light out", "minor"),
    ("tires", "low tread on trailer axle 2", "minor"),
    ("brakes", "air leak audible at trailer", "major"),
    ("coupling", "fifth wheel jaw wear", "major"),
]


# appended once, read in order: kept on disk (most of the generator's rows are ELD events)
SPOOLED = {"hos_events", "fuel_transactions", "trips", "inspections"}


@dataclass
class Tractor:
    unit: str
    vin: str
    make: str
    model: str
    model_year: int
    engine_make: str
    owner: str
    in_service: datetime
    purchase_price: int
    tank: float
    eld_id: str
    plate: str
    odometer: float
    engine_hours: float
    sold_at: datetime | None = None
    down_at_end: bool = False
    in_shop_from: datetime | None = None  # down for good at the end of the window
    location: City = HOME
    eld_seq: int = 0
    versions: list[dict] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return min(x for x in (END, self.sold_at, self.in_shop_from) if x is not None)


@dataclass
class Driver:
    code: str
    first: str
    last: str
    hire: date | None
    term: date | None
    endorsements: list[str]
    card_last4: str
    busy_until: datetime = START

    def available(self, at: datetime, needed: timedelta) -> bool:
        if self.hire is None or self.busy_until > at or at.date() < self.hire:
            return False
        return self.term is None or datetime.combine(self.term, datetime.min.time(), UTC) > at + needed


class OriginFleet:
    """Builds hub 3's rows; `rows` maps each file stem to its rows after `simulate()`."""

    def __init__(self, rng: random.Random, scale: float, world: World) -> None:
        self.rng = rng
        self.world = world
        self.trips: list[dict] = []  # final state of each trip; versions are written by rows()
        self.intercompany: list[dict] = []  # trips hauled for OpenHaul (it creates their loads)
        self.n_tractors = max(4, round(250 * scale))
        self.n_drivers = max(6, round(300 * scale))
        self.n_trailers = max(6, round(400 * scale))
        self.tractors: list[Tractor] = []
        self.drivers: list[Driver] = []
        self.trailers: list[dict] = []
        self.rows: dict[str, list[dict] | Spool] = {
            name: Spool() if name in SPOOLED else []
            for name in (
                "tractors",
                "trailers",
                "drivers",
                "driver_assignments",
                "trips",
                "fuel_transactions",
                "inspections",
                "maintenance_orders",
                "hos_events",
            )
        }
        self._counters = {"trip": 100000, "ro": 50000, "fuel": 700000000}

    def _next(self, name: str) -> int:
        self._counters[name] += 1
        return self._counters[name]

    # -- equipment and people ------------------------------------------------------------------

    def build_tractors(self) -> None:
        units = [str(6500 + i) for i in range(1, self.n_tractors + 1)]
        if "6520" not in units:
            units[-1] = "6520"
        weights = [m[4] for m in MAKES]
        for i, unit in enumerate(units):
            make, model, wmi, engine, _ = self.rng.choices(MAKES, weights)[0]
            year = self.rng.randint(2017, 2025)
            purchased = datetime(year, 1, 1, 14, tzinfo=UTC) + timedelta(days=self.rng.randint(0, 330))
            if unit == "6520":  # the unit everyone asks about runs the whole window
                year, purchased = 2023, datetime(2023, 3, 14, 15, tzinfo=UTC)
            age_days = max(0, (START - purchased).days)
            tractor = Tractor(
                unit=unit,
                vin=make_vin(self.rng, wmi, year, 100000 + i * 37),
                make=make,
                model=model,
                model_year=year,
                engine_make=engine,
                owner="OT" if self.rng.random() < 0.8 else "OEL",
                in_service=purchased + timedelta(days=self.rng.randint(3, 12)),
                purchase_price=self.rng.randint(118, 178) * 1000,
                tank=self.rng.choice([200.0, 240.0, 300.0]),
                eld_id=f"OT{int(unit):04d}",
                plate=f"P{self.rng.randint(100000, 999999)}",
                odometer=age_days * self.rng.uniform(280, 360) + self.rng.uniform(50, 900),
                engine_hours=0.0,
            )
            tractor.engine_hours = tractor.odometer / 42
            roll = self.rng.random()
            if unit != "6520" and roll < 0.07 and tractor.in_service < START:
                tractor.sold_at = START + timedelta(days=self.rng.randint(200, 680), hours=16)
            elif unit != "6520" and roll < 0.10:
                tractor.down_at_end = True
            self.tractors.append(tractor)
            self._tractor_version(tractor, max(tractor.in_service, START - timedelta(days=30)), "active")

    def _tractor_version(self, t: Tractor, at: datetime, status: str) -> None:
        lat = round(t.location.lat + self.rng.uniform(-0.05, 0.05), 6)
        lon = round(t.location.lon + self.rng.uniform(-0.05, 0.05), 6)
        t.versions.append(
            {
                "unit_number": t.unit,
                "vin": t.vin,
                "make": t.make,
                "model": t.model,
                "model_year": t.model_year,
                "status": status,
                "owner_entity": t.owner,
                "plate_number": t.plate,
                "plate_state": "OK",
                "registered_gvw_lbs": 80000,
                "gvwr_lbs": 52000,
                "axle_configuration": "6x4",
                "cab_type": "sleeper",
                "fuel_type": "diesel",
                "tank_capacity_gal": f"{t.tank:.1f}",
                "engine_make": t.engine_make,
                "engine_horsepower": self.rng.choice([450, 455, 475, 505])
                if not t.versions
                else t.versions[0]["engine_horsepower"],
                "transmission": "automated_manual",
                "eld_provider": "Motive",
                "eld_device_id": t.eld_id,
                "transponder_id": f"PP{t.vin[-8:]}",
                "purchase_date": iso(t.in_service.date() - timedelta(days=5)),
                "purchase_price": money(t.purchase_price),
                "lienholder": "Arvest Equipment Finance" if t.model_year >= 2022 else "",
                "in_service_date": iso(t.in_service.date()),
                "current_miles": int(t.odometer),
                "engine_hours": f"{t.engine_hours:.1f}",
                "last_lat": f"{lat:.6f}",
                "last_lon": f"{lon:.6f}",
                "last_located_at": iso(at),
                "valid_from": iso(at),
            }
        )

    def build_drivers(self) -> None:
        used: set[str] = set()
        for i in range(self.n_drivers + max(1, self.n_drivers // 40)):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            base = (first[0] + last).upper()[:10]
            code, n = base, 1
            while code in used:
                n += 1
                code = f"{base[:9]}{n}"
            used.add(code)
            applicant = i >= self.n_drivers
            if applicant:
                hire, term = None, None
            elif self.rng.random() < 0.6:
                hire = date(2012, 1, 1) + timedelta(days=self.rng.randint(0, 4400))
                term = None
            else:
                hire = START.date() + timedelta(days=self.rng.randint(0, 600))
                term = None
            if hire and self.rng.random() < 0.25:
                start = max(hire, START.date()) + timedelta(days=60)
                if start < END.date() - timedelta(days=10):
                    term = start + timedelta(days=self.rng.randint(0, (END.date() - start).days - 5))
            endorsements = [e for e, p in (("H", 0.2), ("N", 0.1), ("T", 0.15)) if self.rng.random() < p]
            if "H" in endorsements and "N" in endorsements and self.rng.random() < 0.5:
                endorsements = [e for e in endorsements if e not in ("H", "N")] + ["X"]
            self.drivers.append(
                Driver(code, first, last, hire, term, sorted(endorsements), f"{self.rng.randint(0, 9999):04d}")
            )

    def build_trailers(self) -> None:
        for i in range(self.n_trailers):
            reefer = self.rng.random() < 0.3
            make, wmi = self.rng.choice(TRAILER_MAKES)
            year = self.rng.randint(2014, 2025)
            ownership = self.rng.choices(["owned", "leased", "interchange"], [70, 25, 5])[0]
            status = self.rng.choices(["active", "out_of_service", "sold"], [95, 3, 2])[0]
            self.trailers.append(
                {
                    "trailer_number": f"{'R' if reefer else 'V'}{53000 + i}",
                    "vin": make_vin(self.rng, wmi, year, 300000 + i * 11),
                    "trailer_type": "R" if reefer else "V",
                    "length_ft": 53,
                    "width_in": 102,
                    "make": make,
                    "model_year": year,
                    "ownership": ownership,
                    "lessor_name": self.rng.choice(LESSORS) if ownership == "leased" else "",
                    "lease_expires_on": iso(date(2027, self.rng.randint(1, 12), 1)) if ownership == "leased" else "",
                    "status": status,
                    "owner_entity": "OT",
                    "plate_number": f"T{self.rng.randint(100000, 999999)}",
                    "plate_state": "OK",
                    "gvwr_lbs": 68000,
                    "axle_count": 2,
                    "door_type": "swing" if reefer else "roll",
                    "reefer_make": self.rng.choice(["Thermo King", "Carrier Transicold"]) if reefer else "",
                    "reefer_hours": f"{self.rng.uniform(800, 16000):.1f}" if reefer else "",
                    "tracking_device_id": f"SkyBitz-{self.rng.randint(10**6, 10**7 - 1)}",
                    "purchase_date": iso(date(year, self.rng.randint(1, 12), 1)) if ownership == "owned" else "",
                    "purchase_price": money(self.rng.randint(38, 72) * 1000) if ownership == "owned" else "",
                    "annual_inspection_due_on": iso(date(2027, self.rng.randint(1, 12), 15)),
                    "last_lat": "",
                    "last_lon": "",
                    "last_located_at": "",
                }
            )
        self.rows["trailers"] = self.trailers

    # -- operations ----------------------------------------------------------------------------

    def simulate(self) -> OriginFleet:
        self.build_tractors()
        self.build_drivers()
        self.build_trailers()
        queue = [(max(t.in_service, START) + hours(self.rng.uniform(0, 48)), t.unit) for t in self.tractors]
        heapq.heapify(queue)
        by_unit = {t.unit: t for t in self.tractors}
        while queue:
            at, unit = heapq.heappop(queue)
            tractor = by_unit[unit]
            if at >= tractor.end - timedelta(days=2):
                continue
            free = [d for d in self.drivers if d.available(at, timedelta(days=20))]
            if not free:
                heapq.heappush(queue, (at + timedelta(days=2), unit))
                continue
            driver = self.rng.choice(free)
            until = min(at + timedelta(days=self.rng.randint(30, 240)), tractor.end)
            if driver.term:
                until = min(until, datetime.combine(driver.term, datetime.min.time(), UTC) + hours(12))
            goes_to_shop = tractor.down_at_end and until >= END - timedelta(days=6)
            if goes_to_shop:
                until = END - timedelta(days=self.rng.randint(2, 5))
            team = None
            if self.rng.random() < 0.04:
                others = [d for d in free if d is not driver and d.term is None]
                team = self.rng.choice(others) if others else None
            ended = self.run_assignment(tractor, driver, at, until, team)
            if goes_to_shop:
                tractor.in_shop_from = until + hours(2)
                self.downtime(tractor, tractor.in_shop_from, closes=False)
            rest = timedelta(days=self.rng.randint(1, 5))
            driver.busy_until = ended + rest
            if team:
                team.busy_until = ended + rest
            heapq.heappush(queue, (ended + hours(self.rng.uniform(4, 60)), unit))
        for tractor in self.tractors:
            self.close_tractor(tractor)
            self.rows["tractors"].extend(tractor.versions)
            self.annual_inspections(tractor)
        for driver in self.drivers:
            self.register_driver(driver)
        return self

    def rows_by_table(self) -> dict[str, list[dict] | Spool]:
        """Every hub-3 file's rows; call after OpenHaul has linked its loads to the trips."""
        self.rows["drivers"] = [v for d in self.drivers for v in self.driver_versions(d)]
        self.rows["trips"] = Spool(v for trip in self.trips for v in self.trip_versions(trip))
        return self.rows

    def register_driver(self, d: Driver) -> None:
        since = datetime.combine(d.hire or (END.date() - timedelta(days=20)), datetime.min.time(), UTC) + hours(14)
        party = self.world.person(
            d.first, d.last, ["driver", "employee"] if d.hire else ["prospect"], since, key=d.code
        )
        if d.term and d.term <= END.date():
            ended = datetime.combine(d.term, datetime.min.time(), UTC) + hours(17)
            party.ended.update({"driver": ended, "employee": ended})
        if d.hire:
            origin = self.world.parties[party_id("organization", "Origin Transport LLC")]
            self.world.relate(party, origin, "employee_of", since, party.ended.get("employee"), title="Driver")

    @staticmethod
    def trip_versions(trip: dict) -> list[dict]:
        """A trip's status timeline: dispatched, then in transit, then (if so) delivered."""
        dispatched = datetime.fromisoformat(trip["dispatched_at"])
        versions = [
            {**trip, "status": "dispatched", "delivered_at": "", "valid_from": trip["dispatched_at"]},
            {**trip, "status": "in_transit", "delivered_at": "", "valid_from": iso(dispatched + hours(1.5))},
        ]
        if trip["status"] == "delivered":
            versions.append({**trip, "valid_from": trip["delivered_at"]})
        return versions

    def run_assignment(self, t: Tractor, d: Driver, start: datetime, until: datetime, team: Driver | None) -> datetime:
        """Trips from start until `until`; returns when the assignment actually ended."""
        odometer_start = int(t.odometer)
        at = start + hours(self.rng.uniform(2, 20))
        open_ended = until >= END
        ended = until
        trips_since_home = 0
        while True:
            dest = self.rng.choice([c for c in CITIES if c is not t.location and miles_between(t.location, c) > 180])
            trip = self.plan_trip(t, d, team, at, dest)
            if trip["ends"] > until:
                if open_ended and at < END:
                    self.run_trip(t, d, team, trip, cut_off=END)
                break
            self.run_trip(t, d, team, trip, cut_off=None)
            at = trip["ends"] + hours(self.rng.uniform(6, 30))
            trips_since_home += 1
            if trips_since_home >= self.rng.randint(6, 12):
                at += hours(self.rng.uniform(34, 60))
                trips_since_home = 0
            if self.rng.random() < 0.025 and at + timedelta(days=5) < until:
                at = self.downtime(t, at, closes=True) + hours(self.rng.uniform(2, 10))
        for seat, who in (("primary", d), ("co_driver", team)):
            if who is None:
                continue
            self.rows["driver_assignments"].append(
                {
                    "assignment_id": stable_uuid("assignment", t.unit, seat, iso(start)),
                    "driver_code": who.code,
                    "unit_number": t.unit,
                    "seat": seat,
                    "valid_from": iso(start),
                    "valid_to": "" if open_ended else iso(ended),
                    "odometer_start": odometer_start,
                    "odometer_end": "" if open_ended else int(t.odometer),
                    "assigned_by": self.rng.choice(["dispatch.kelly", "dispatch.ramon", "ops.manager"]),
                    "reason": "team_up"
                    if seat == "co_driver"
                    else self.rng.choice(["rotation", "unit_change", "hire", "return"]),
                    "notes": "",
                }
            )
        return ended

    def plan_trip(self, t: Tractor, d: Driver, team: Driver | None, at: datetime, dest: City) -> dict:
        """Lays out the trip's driving days (ON, D, break, D, rest) and when it delivers."""
        loaded = miles_between(t.location, dest)
        empty = self.rng.uniform(0, 110)
        remaining, now, days = loaded + empty, at, []
        while remaining > 0:
            day_miles = min(remaining, self.rng.uniform(420, 545) * (1.7 if team else 1))
            days.append((now, day_miles))
            now += hours(0.25 + day_miles / 52 + 0.5)
            remaining -= day_miles
            now += hours(1.5) if remaining <= 0 else hours(10)
        return {
            "origin": t.location,
            "dest": dest,
            "loaded": loaded,
            "empty": empty,
            "starts": at,
            "days": days,
            "ends": now,
        }

    def run_trip(self, t: Tractor, d: Driver, team: Driver | None, trip: dict, cut_off: datetime | None) -> None:
        number = f"OT-{self._next('trip')}"
        reefer = self.rng.random() < 0.3
        hazmat = not reefer and any(e in ("H", "X") for e in d.endorsements) and self.rng.random() < 0.08
        trailers = [
            tr for tr in self.trailers if tr["trailer_type"] == ("R" if reefer else "V") and tr["status"] == "active"
        ]
        trailer = self.rng.choice(trailers)["trailer_number"] if trailers else ""
        self.dvir(t, d, trip["starts"], trailer)
        total = trip["loaded"] + trip["empty"]
        driven, since_fuel = 0.0, self.rng.uniform(0, 300)
        delivered = True
        for day_start, day_miles in trip["days"]:
            if cut_off and day_start >= cut_off:
                delivered = False
                break
            now = day_start
            self.hos(t, d, now, 4, driven / total, trip)
            now += hours(0.25)
            for half in (0, 1):
                self.hos(t, d, now, 3, driven / total, trip)
                leg = day_miles / 2
                now += hours(leg / 52)
                driven += leg
                since_fuel += leg
                t.odometer += leg
                t.engine_hours += leg / 48
                if half == 0:
                    self.hos(t, d, now, 4, driven / total, trip)
                    if since_fuel > 420:
                        self.fuel(t, d, now + hours(0.1), since_fuel, driven / total, trip, reefer)
                        since_fuel = 0.0
                    now += hours(0.5)
            self.hos(t, d, now, 4 if driven >= total - 1 else 2, driven / total, trip)
            if driven >= total - 1:
                self.hos(t, d, now + hours(1.5), 1, 1.0, trip)
        if delivered and self.rng.random() < 0.015:
            self.roadside(t, d, trip)
        intercompany = delivered and self.rng.random() < 0.15
        if intercompany:
            bill_to = self.world.parties[party_id("organization", "OpenHaul Logistics LLC")]
        else:
            bill_to = self.world.organization(
                self.rng.choice(CUSTOMERS), ["customer", "shipper"], START - timedelta(days=400)
            )
        rate = self.rng.uniform(2.05, 3.15)
        status = "delivered" if delivered else "in_transit"
        self.trips.append(
            {
                "trip_number": number,
                "openhaul_load_number": "",
                "bill_to_party_id": bill_to.party_id,
                "unit_number": t.unit,
                "trailer_number": trailer,
                "driver_code": d.code,
                "co_driver_code": team.code if team else "",
                "status": status,
                "bol_number": f"BOL{self.rng.randint(10**7, 10**8 - 1)}",
                "commodity": self.rng.choice(
                    HAZMAT_COMMODITIES if hazmat else REEFER_COMMODITIES if reefer else COMMODITIES
                ),
                "weight_lbs": self.rng.randint(18000, 44000),
                "hazmat": str(hazmat).lower(),
                "origin_city": trip["origin"].name,
                "origin_state": trip["origin"].state,
                "dest_city": trip["dest"].name,
                "dest_state": trip["dest"].state,
                "planned_pickup_at": iso(trip["starts"] + hours(1)),
                "dispatched_at": iso(trip["starts"]),
                "delivered_at": iso(trip["ends"]) if delivered else "",
                "revenue": money(trip["loaded"] * rate),
                "fuel_surcharge": money(trip["loaded"] * self.rng.uniform(0.42, 0.62)),
                "loaded_miles": round(trip["loaded"]),
                "empty_miles": round(trip["empty"]),
            }
        )
        if intercompany:
            self.intercompany.append(self.trips[-1])
        t.location = trip["dest"] if delivered else t.location

    def _position(self, trip: dict, fraction: float) -> tuple[float, float]:
        a, b = trip["origin"], trip["dest"]
        f = min(1.0, max(0.0, fraction))
        return a.lat + (b.lat - a.lat) * f, a.lon + (b.lon - a.lon) * f

    def hos(self, t: Tractor, d: Driver, at: datetime, code: int, fraction: float, trip: dict) -> None:
        lat, lon = self._position(trip, fraction)
        place = nearest_city(lat, lon)
        t.eld_seq = (t.eld_seq + 1) % 65536
        self.rows["hos_events"].append(
            {
                "eld_identifier": t.eld_id,
                "event_at": iso(at),
                "event_seq_id": t.eld_seq,
                "driver_code": d.code,
                "unit_number": t.unit,
                "event_type": 1,
                "event_code": code,
                "record_status": 1,
                "record_origin": 1 if code == 3 else 2,
                "accumulated_miles": round(fraction * (trip["loaded"] + trip["empty"])),
                "elapsed_engine_hours": f"{min(fraction * 30, 99):.1f}",
                "total_vehicle_miles": int(t.odometer),
                "total_engine_hours": f"{t.engine_hours:.1f}",
                "lat": f"{lat:.2f}",
                "lon": f"{lon:.2f}",
                "location_description": f"near {place.name}, {place.state}",
                "malfunction_ind": "false",
                "data_diag_ind": "false",
                "comment": "",
            }
        )

    def fuel(
        self, t: Tractor, d: Driver, at: datetime, miles: float, fraction: float, trip: dict, reefer: bool
    ) -> None:
        lat, lon = self._position(trip, fraction)
        place = nearest_city(lat, lon)
        month = (at.year - 2024) * 12 + at.month
        base = (
            3.62
            + 0.28 * math.sin(month / 2.0)
            + {"CA": 1.25, "WA": 0.55, "OR": 0.45, "TX": -0.18, "OK": -0.22}.get(place.state, 0.0)
        )
        chain = self.rng.choice(CHAINS)
        purchases = [("DSL", min(miles / self.rng.uniform(6.2, 7.6), t.tank * 0.95), base)]
        if self.rng.random() < 0.3:
            purchases.append(("DEF", self.rng.uniform(5, 14), self.rng.uniform(3.8, 4.6)))
        if reefer and self.rng.random() < 0.5:
            purchases.append(("RFR", self.rng.uniform(20, 45), base - 0.35))
        for product, gallons, price in purchases:
            gallons, price = round(gallons, 3), round(price, 3)
            self.rows["fuel_transactions"].append(
                {
                    "card_provider": "EFS",
                    "transaction_id": str(self._next("fuel")),
                    "card_last4": d.card_last4,
                    "unit_number": t.unit,
                    "driver_code": d.code,
                    "transacted_at": iso(at),
                    "merchant": f"{chain} #{self.rng.randint(100, 999)}",
                    "truck_stop_chain": chain,
                    "city": place.name,
                    "jurisdiction": place.state,
                    "product": product,
                    "gallons": f"{gallons:.3f}",
                    "price_per_gallon": f"{price:.3f}",
                    "total_amount": money(round(gallons * price + 1e-9, 2)),
                    "discount_amount": money(gallons * self.rng.choice([0.0, 0.05, 0.12])),
                    "currency": "USD",
                    "odometer": int(t.odometer),
                    "tax_paid": "true",
                    "invoice_number": f"EFS{at:%Y%m%d}",
                    "posted_at": iso(at + hours(self.rng.uniform(1, 20))),
                }
            )

    def dvir(self, t: Tractor, d: Driver, at: datetime, trailer: str) -> None:
        inspection_id = stable_uuid("dvir", t.unit, iso(at))
        defect = DEFECTS[self.rng.randrange(len(DEFECTS))] if self.rng.random() < 0.03 else None
        inspected = at - hours(2)
        row = {
            "inspection_id": inspection_id,
            "kind": "dvir_pre",
            "unit_number": t.unit,
            "trailer_number": trailer,
            "driver_code": d.code,
            "inspected_at": iso(inspected),
            "report_state": "",
            "report_number": "",
            "insp_level": "",
            "location_city": t.location.name,
            "location_state": t.location.state,
            "inspector_name": f"{d.first} {d.last}",
            "odometer": int(t.odometer),
            "viol_total": 0,
            "oos_total": 0,
            "result": "defects_noted" if defect else "pass",
            "defects": (
                f'[{{"component": "{defect[0]}", "description": "{defect[1]}", "severity": "{defect[2]}"}}]'
                if defect
                else "[]"
            ),
            "repairs_certified_at": iso(at - hours(0.5)) if defect else "",
            "hazmat_inspection": "false",
            "notes": "",
        }
        self.rows["inspections"].append(row)
        if defect:
            self.repair_order(
                t,
                at - hours(1.5),
                at - hours(0.5),
                "inspection_defect",
                inspection_id,
                (defect[1], f"{defect[0]} defect found on pre-trip", f"Repaired {defect[0]}"),
            )

    def roadside(self, t: Tractor, d: Driver, trip: dict) -> None:
        lat, lon = self._position(trip, self.rng.uniform(0.2, 0.8))
        place = nearest_city(lat, lon)
        violations = self.rng.choices([0, 1, 2, 3], [60, 25, 10, 5])[0]
        oos = 1 if violations and self.rng.random() < 0.2 else 0
        at = trip["starts"] + hours(self.rng.uniform(2, 8))
        self.rows["inspections"].append(
            {
                "inspection_id": stable_uuid("roadside", t.unit, iso(at)),
                "kind": "roadside",
                "unit_number": t.unit,
                "trailer_number": "",
                "driver_code": d.code,
                "inspected_at": iso(at),
                "report_state": place.state,
                "report_number": f"{place.state}{self.rng.randint(10**8, 10**9 - 1)}",
                "insp_level": self.rng.choice([1, 2, 3]),
                "location_city": place.name,
                "location_state": place.state,
                "inspector_name": "State trooper",
                "odometer": int(t.odometer),
                "viol_total": violations,
                "oos_total": oos,
                "result": "out_of_service" if oos else "defects_noted" if violations else "pass",
                "defects": "[]",
                "repairs_certified_at": "",
                "hazmat_inspection": "false",
                "notes": "",
            }
        )

    def annual_inspections(self, t: Tractor) -> None:
        for year in (2025, 2026):
            at = datetime(year, t.in_service.month, min(t.in_service.day, 28), 15, tzinfo=UTC)
            if not (START <= at < t.end):
                continue
            self.rows["inspections"].append(
                {
                    "inspection_id": stable_uuid("annual", t.unit, year),
                    "kind": "annual",
                    "unit_number": t.unit,
                    "trailer_number": "",
                    "driver_code": "",
                    "inspected_at": iso(at),
                    "report_state": "",
                    "report_number": "",
                    "insp_level": "",
                    "location_city": HOME.name,
                    "location_state": HOME.state,
                    "inspector_name": "J. Alvarez (qualified inspector)",
                    "odometer": "",
                    "viol_total": 0,
                    "oos_total": 0,
                    "result": "pass",
                    "defects": "[]",
                    "repairs_certified_at": "",
                    "hazmat_inspection": "false",
                    "notes": "Annual inspection per 49 CFR 396.17",
                }
            )

    def downtime(self, t: Tractor, at: datetime, closes: bool) -> datetime:
        """The unit goes to the shop: a repair order and a 'maintenance' version until it's back."""
        back = at + hours(self.rng.uniform(20, 96))
        repair = REPAIRS[self.rng.randrange(len(REPAIRS))]
        self._tractor_version(t, at, "maintenance")
        self.repair_order(t, at, back if closes else None, repair[0], "", repair[2:5], repair)
        if closes:
            self._tractor_version(t, back, "active")
        return back

    def repair_order(
        self,
        t: Tractor,
        opened: datetime,
        closed: datetime | None,
        category: str,
        inspection_id: str,
        three_cs: tuple,
        repair: tuple | None = None,
    ) -> None:
        outside = self.rng.random() < 0.4
        labor = repair[5] if repair else self.rng.uniform(0.5, 1.5)
        parts = repair[6] if repair else self.rng.uniform(10, 90)
        shop = self.rng.choice(SHOPS) if outside else IN_HOUSE_SHOP
        if outside:
            self.world.organization(shop, ["vendor"], START - timedelta(days=700))
        self.rows["maintenance_orders"].append(
            {
                "ro_number": f"RO-{self._next('ro')}",
                "asset_type": "tractor",
                "unit_number": t.unit,
                "trailer_number": "",
                "category": category,
                "status": "done" if closed else self.rng.choice(["open", "in_progress", "blocked"]),
                "opened_at": iso(opened),
                "closed_at": iso(closed),
                "odometer": int(t.odometer),
                "engine_hours": f"{t.engine_hours:.1f}",
                "vendor_party_id": party_id("organization", shop) if outside else "",
                "vendor_name": shop,
                "vmrs_code": repair[1] if repair else "071-001-001",
                "complaint": three_cs[0],
                "cause": three_cs[1],
                "correction": three_cs[2] if closed else "",
                "labor_hours": f"{labor:.2f}",
                "labor_cost": money(labor * 145),
                "parts_cost": money(parts * self.rng.uniform(0.9, 1.2)),
                "inspection_id": inspection_id,
                "warranty_claim": "false",
            }
        )

    def close_tractor(self, t: Tractor) -> None:
        if t.sold_at:
            self._tractor_version(t, t.sold_at, "sold")

    def driver_versions(self, d: Driver) -> list[dict]:
        """Hired (or applied), then terminated if so: one version each."""
        end = END.date()
        terminated = bool(d.term and d.term <= end)
        horizon = d.term if terminated else end
        base = self.driver_row(d, horizon)
        if d.hire is None:
            return [{**base, "status": "applicant", "valid_from": iso(END - timedelta(days=20))}]
        hired = datetime.combine(d.hire, datetime.min.time(), UTC) + hours(14)
        versions = [{**base, "status": "active", "termination_date": "", "valid_from": iso(hired)}]
        if terminated:
            left = datetime.combine(d.term, datetime.min.time(), UTC) + hours(17)
            versions.append({**base, "status": "terminated", "termination_date": iso(d.term), "valid_from": iso(left)})
        return versions

    def driver_row(self, d: Driver, horizon: date) -> dict:
        return {
            "driver_code": d.code,
            "party_id": party_id("person", d.code),
            "first_name": d.first,
            "last_name": d.last,
            "date_of_birth": iso(date(1960, 1, 1) + timedelta(days=self.rng.randint(0, 14000))),
            "cdl_number": f"{self.rng.randint(10**8, 10**9 - 1)}",
            "cdl_state": self.rng.choice(["OK", "TX", "AR", "KS", "MO"]),
            "cdl_class": "A",
            "endorsements": "{" + ",".join(d.endorsements) + "}",
            "restrictions": "",
            "cdl_expires_on": iso(horizon + timedelta(days=self.rng.randint(120, 1400))),
            "med_cert_expires_on": iso(horizon + timedelta(days=self.rng.randint(20, 700))),
            "hazmat_expires_on": iso(horizon + timedelta(days=self.rng.randint(100, 1500)))
            if {"H", "X"} & set(d.endorsements)
            else "",
            "hire_date": iso(d.hire),
            "eld_user_id": d.code.lower(),
            "pay_basis": "per_mile",
            "pay_rate": f"{self.rng.uniform(0.52, 0.72):.4f}",
            "home_terminal": HOME.name,
            "twic_card": str(self.rng.random() < 0.2).lower(),
            "mvr_checked_on": iso(date(2026, self.rng.randint(1, 10), 1)),
            "last_drug_test_on": iso(date(2026, self.rng.randint(1, 10), 5)),
            "email": f"{d.code.lower()}@origintransport.example",
            "mobile_phone": f"+1918{self.rng.randint(2000000, 9999999)}",
        }
