"""The cast of the fictional group, shared by every hub: parties (people and organizations),
their roles, addresses and contact points, and the group's legal entities.

Every hub registers the parties it meets here (a customer, a carrier, a driver, a repair
shop); hub 4's files are then written from this one registry, so a party id means the same
party everywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hubs.generate.common import CITIES, HOME, START, City, iso, party_id, stable_uuid

STREETS = [
    "Industrial Blvd",
    "Commerce Dr",
    "Distribution Way",
    "Logistics Pkwy",
    "Main St",
    "Airport Rd",
    "Warehouse Ave",
    "Freight Ln",
    "Depot St",
    "Enterprise Dr",
    "Trade Center Blvd",
    "Rail Yard Rd",
]
ZIP_PREFIX = {
    "OK": "74",
    "TX": "75",
    "TN": "38",
    "GA": "30",
    "FL": "32",
    "NC": "28",
    "VA": "23",
    "PA": "17",
    "NJ": "07",
    "OH": "43",
    "IN": "46",
    "IL": "60",
    "MI": "48",
    "WI": "53",
    "MN": "55",
    "IA": "50",
    "MO": "64",
    "NE": "68",
    "CO": "80",
    "UT": "84",
    "AZ": "85",
    "NM": "87",
    "NV": "89",
    "CA": "90",
    "OR": "97",
    "WA": "98",
    "ID": "83",
    "AR": "72",
    "KY": "40",
    "AL": "35",
    "MS": "39",
    "LA": "71",
}
TIME_ZONES = {
    "CA": "America/Los_Angeles",
    "OR": "America/Los_Angeles",
    "WA": "America/Los_Angeles",
    "NV": "America/Los_Angeles",
    "AZ": "America/Phoenix",
    "CO": "America/Denver",
    "UT": "America/Denver",
    "NM": "America/Denver",
    "ID": "America/Boise",
    "GA": "America/New_York",
    "FL": "America/New_York",
    "NC": "America/New_York",
    "VA": "America/New_York",
    "PA": "America/New_York",
    "NJ": "America/New_York",
    "OH": "America/New_York",
    "IN": "America/Indiana/Indianapolis",
    "MI": "America/Detroit",
    "KY": "America/New_York",
    "ON": "America/Toronto",
}


def time_zone(state: str) -> str:
    return TIME_ZONES.get(state, "America/Chicago")


@dataclass
class Party:
    party_id: str
    party_type: str  # person | organization
    display_name: str
    since: datetime
    categories: dict[str, datetime] = field(default_factory=dict)  # category -> since
    city: City = HOME
    attrs: dict = field(default_factory=dict)
    first_name: str = ""
    last_name: str = ""
    addresses: list[tuple[str, str, datetime]] = field(default_factory=list)  # (address_id, type, since)
    ended: dict[str, datetime] = field(default_factory=dict)  # category -> until


@dataclass(frozen=True)
class LegalEntity:
    code: str
    name: str
    role: str  # broker | carrier | equipment
    ein: str
    formed_on: date
    usdot: int | None
    mc: str | None
    scac: str | None

    @property
    def party_id(self) -> str:
        return party_id("organization", self.name)


GROUP = [
    LegalEntity("OH", "OpenHaul Logistics LLC", "broker", "73-1842951", date(2019, 4, 2), 3187462, "MC1092733", "OPHL"),
    LegalEntity("OT", "Origin Transport LLC", "carrier", "73-1650284", date(2016, 8, 15), 2849315, "MC984412", "ORGT"),
    LegalEntity("OEL", "Origin Equipment Leasing LLC", "equipment", "73-1988406", date(2020, 1, 9), None, None, None),
]
OWNER = ("Gabriel", "Ortega")  # "G"
PARTNER = ("Dale", "Whitfield")  # held 40% of Origin until the buy-out


class World:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.parties: dict[str, Party] = {}
        self.addresses: dict[str, dict] = {}
        self.relationships: list[dict] = []
        self.facilities_by_city: dict[str, list[Party]] = {}
        roles = {"broker": ["broker"], "carrier": ["carrier"], "equipment": ["vendor"]}
        for entity in GROUP:
            self.organization(
                entity.name,
                roles[entity.role],
                datetime.combine(entity.formed_on, datetime.min.time(), UTC),
                city=HOME,
                ein=entity.ein,
                usdot=entity.usdot,
                mc=entity.mc,
                scac=entity.scac,
                naics="488510" if entity.role == "broker" else "484121" if entity.role == "carrier" else "532120",
            )
        self.owner = self.person(*OWNER, ["owner", "employee"], datetime(2016, 8, 15, tzinfo=UTC), key="G")
        self.partner = self.person(*PARTNER, ["owner"], datetime(2016, 8, 15, tzinfo=UTC), key="partner")
        self.partner.ended["owner"] = datetime(2025, 7, 1, tzinfo=UTC)

    # -- registration ----------------------------------------------------------------------------

    def organization(
        self, name: str, categories: list[str], since: datetime, city: City | None = None, **attrs: object
    ) -> Party:
        pid = party_id("organization", name)
        party = self.parties.get(pid)
        if party is None:
            party = Party(pid, "organization", name, since, city=city or self.rng.choice(CITIES), attrs=dict(attrs))
            self.parties[pid] = party
            self.address(party, "physical", since, primary=True)
        for category in categories:
            party.categories.setdefault(category, max(since, party.since))
        return party

    def person(
        self, first: str, last: str, categories: list[str], since: datetime, key: str, city: City | None = None
    ) -> Party:
        pid = party_id("person", key)
        party = self.parties.get(pid)
        if party is None:
            party = Party(pid, "person", f"{first} {last}", since, city=city or HOME, first_name=first, last_name=last)
            self.parties[pid] = party
        for category in categories:
            party.categories.setdefault(category, since)
        return party

    def address(self, party: Party, kind: str, since: datetime, primary: bool = False, city: City | None = None) -> str:
        city = city or party.city
        number = self.rng.randint(100, 9899)
        street = self.rng.choice(STREETS)
        postal = self._postal(city)
        key = f"{number} {street}|{city.name}|{city.state}|{postal}".upper()
        address_id = stable_uuid("address", key)
        if address_id not in self.addresses:
            self.addresses[address_id] = {
                "address_id": address_id,
                "normalized_key": key,
                "line1": f"{number} {street}",
                "line2": self.rng.choice(
                    ["", "", "", f"Dock {self.rng.randint(1, 40)}", f"Suite {self.rng.randint(100, 400)}"]
                ),
                "city": city.name,
                "state_province": city.state,
                "postal_code": postal,
                "country": "CA" if city.state == "ON" else "US",
                "county": "",
                "latitude": f"{city.lat + self.rng.uniform(-0.08, 0.08):.6f}",
                "longitude": f"{city.lon + self.rng.uniform(-0.08, 0.08):.6f}",
                "geocode_precision": "rooftop",
                "time_zone": time_zone(city.state),
                "dock_hours": '{"mon-fri": "06:00-15:00"}' if kind in ("physical", "warehouse") else "",
                "appointment_required": str(self.rng.random() < 0.5).lower(),
                "is_residential": "false",
                "receiving_notes": "",
                "verified_at": iso(since + timedelta(days=3)),
            }
        party.addresses.append((address_id, kind, since))
        if primary:
            party.attrs.setdefault("primary_physical", address_id)
        return address_id

    def _postal(self, city: City) -> str:
        if city.state == "ON":  # Canadian A9A 9A9
            letters = "ABCEGHJKLMNPRSTVXY"
            first = f"M{self.rng.randint(1, 9)}{self.rng.choice(letters)}"
            return f"{first} {self.rng.randint(1, 9)}{self.rng.choice(letters)}{self.rng.randint(1, 9)}"
        return f"{ZIP_PREFIX.get(city.state, '73')}{self.rng.randint(100, 999)}"

    def relate(
        self,
        from_party: Party,
        to_party: Party,
        rel_type: str,
        since: datetime,
        until: datetime | None = None,
        title: str = "",
        primary: bool = False,
    ) -> None:
        self.relationships.append(
            {
                "relationship_id": stable_uuid("rel", from_party.party_id, to_party.party_id, rel_type, iso(since)),
                "from_party_id": from_party.party_id,
                "to_party_id": to_party.party_id,
                "rel_type": rel_type,
                "title": title,
                "is_primary_contact": str(primary).lower(),
                "valid_from": iso(since),
                "valid_to": iso(until),
                "source": "generated",
                "notes": "",
            }
        )

    def facility(self, city: City, since: datetime) -> Party:
        """A shipper's or consignee's dock in a city (a few per city, reused)."""
        docks = self.facilities_by_city.setdefault(city.name, [])
        if len(docks) < 3 and (not docks or self.rng.random() < 0.3):
            kind = self.rng.choice(["Distribution Center", "Cold Storage", "Plant", "Warehouse", "Terminal"])
            name = f"{city.name} {kind} {len(docks) + 1}"
            docks.append(self.organization(name, ["shipper", "consignee"], min(since, START), city=city))
        return self.rng.choice(docks)

    # -- hub 4 rows --------------------------------------------------------------------------------

    def rows(self) -> dict[str, list[dict]]:
        parties, categories, party_addresses, contacts = [], [], [], []
        for party in sorted(self.parties.values(), key=lambda p: p.party_id):
            attrs = party.attrs
            parties.append(
                {
                    "party_id": party.party_id,
                    "party_type": party.party_type,
                    "display_name": party.display_name,
                    "legal_name": party.display_name if party.party_type == "organization" else "",
                    "dba_name": attrs.get("dba", ""),
                    "first_name": party.first_name,
                    "last_name": party.last_name,
                    "ein": attrs.get("ein", ""),
                    "usdot_number": attrs.get("usdot") or "",
                    "mc_docket": attrs.get("mc") or "",
                    "duns": "",
                    "scac": attrs.get("scac") or "",
                    "naics_code": attrs.get("naics", ""),
                    "status": "active" if self._current(party) else "inactive",
                    "merged_into": "",
                    "website": "",
                    "established_on": iso(party.since.date()),
                    "time_zone": time_zone(party.city.state),
                    "preferred_language": "en",
                    "tax_exempt": "false",
                    "source_system": attrs.get("source", "manual"),
                    "external_ids": "",
                    "notes": "",
                }
            )
            for category, since in sorted(party.categories.items()):
                categories.append(
                    {
                        "party_id": party.party_id,
                        "category": category,
                        "valid_from": iso(since),
                        "valid_to": iso(party.ended.get(category)),
                        "source_hub": attrs.get("hub", "hub4_contacts"),
                        "is_primary": str(category == next(iter(sorted(party.categories)))).lower(),
                        "assigned_by": "generator",
                        "notes": "",
                    }
                )
            for address_id, kind, since in party.addresses:
                party_addresses.append(
                    {
                        "party_id": party.party_id,
                        "address_id": address_id,
                        "address_type": kind,
                        "valid_from": iso(since),
                        "valid_to": "",
                        "is_primary": str(attrs.get("primary_physical") == address_id and kind == "physical").lower(),
                        "label": "",
                        "contact_name": "",
                        "verified_at": "",
                        "notes": "",
                    }
                )
            contacts.extend(self._contact_points(party))
        return {
            "parties": parties,
            "party_categories": categories,
            "addresses": list(self.addresses.values()),
            "party_addresses": party_addresses,
            "party_relationships": self.relationships,
            "contact_points": contacts,
        }

    @staticmethod
    def _current(party: Party) -> bool:
        """A party is active while it holds a role that has not ended."""
        return any(category not in party.ended for category in party.categories)

    def _contact_points(self, party: Party) -> list[dict]:
        area = {"OK": "918", "TX": "214", "IL": "312", "GA": "404", "CA": "213"}.get(party.city.state, "405")
        slug = "".join(c for c in party.display_name.lower() if c.isalnum())[:20] or "contact"
        points = [
            (
                "phone" if party.party_type == "organization" else "mobile",
                f"+1{area}{self.rng.randint(2000000, 9999999)}",
                "dispatch" if "carrier" in party.categories else "general",
            )
        ]
        domain = "example.com" if party.party_type == "person" else f"{slug}.example"
        points.append(
            (
                "email",
                f"{slug if party.party_type == 'person' else 'info'}@{domain}",
                "billing" if {"customer", "vendor"} & set(party.categories) else "general",
            )
        )
        return [
            {
                "party_id": party.party_id,
                "channel": channel,
                "value": value,
                "purpose": purpose,
                "extension": "",
                "is_primary": "true",
                "label": "",
                "preferred_hours": "",
                "sms_opt_in": "false",
                "do_not_contact": "false",
                "verified_at": "",
            }
            for channel, value, purpose in points
        ]
