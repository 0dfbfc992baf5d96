"""The people who run the group (hub 1's persons): G, the managers, dispatchers, broker agents,
the accountant. Built first because every hub names them (account owners, dispatchers,
authors of notes)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hubs.generate.common import END, iso, stable_uuid
from hubs.generate.world import GROUP, World

# (handle, first, last, role, title, entity, reports to, started, ended)
PEOPLE = [
    ("G", "Gabriel", "Ortega", "owner", "Owner", "OT", None, date(2016, 8, 15), None),
    (
        "dale",
        "Dale",
        "Whitfield",
        "advisor",
        "Partner (until the 2025 buy-out)",
        "OT",
        "G",
        date(2016, 8, 15),
        date(2025, 6, 30),
    ),
    ("renee", "Renee", "Castillo", "manager", "Operations Manager, Origin", "OT", "G", date(2018, 3, 1), None),
    ("marcus", "Marcus", "Lee", "manager", "Brokerage Manager, OpenHaul", "OH", "G", date(2019, 5, 6), None),
    ("kelly", "Kelly", "Pruitt", "dispatcher", "Dispatcher", "OT", "renee", date(2019, 9, 9), None),
    ("ramon", "Ramon", "Vega", "dispatcher", "Dispatcher", "OT", "renee", date(2021, 2, 1), None),
    ("alvarez", "Sofia", "Alvarez", "broker_agent", "Senior Broker", "OH", "marcus", date(2019, 7, 1), None),
    ("kim", "Daniel", "Kim", "broker_agent", "Broker", "OH", "marcus", date(2022, 4, 18), None),
    ("novak", "Irene", "Novak", "broker_agent", "Carrier Sales", "OH", "marcus", date(2023, 1, 9), None),
    ("priya", "Priya", "Raman", "accountant", "Controller", "OH", "G", date(2020, 2, 3), None),
    ("bo", "Beau", "Tran", "safety_manager", "Safety & Compliance Manager", "OT", "renee", date(2020, 6, 15), None),
    ("hal", "Harold", "Jenkins", "advisor", "Outside CPA", None, "G", date(2017, 1, 1), None),
]


@dataclass(frozen=True)
class Member:
    person_id: str
    handle: str
    role: str
    party_id: str
    active: bool


class Staff:
    def __init__(self, rng: random.Random, world: World) -> None:
        self.rng = rng
        self.members: dict[str, Member] = {}
        self.rows: list[dict] = []
        entities = {e.code: e for e in GROUP}
        for handle, first, last, role, title, entity, boss, started, ended in PEOPLE:
            since = datetime.combine(started, datetime.min.time(), UTC) + timedelta(hours=14)
            if handle == "G":
                party = world.owner
            elif handle == "dale":
                party = world.partner
            else:
                party = world.person(first, last, ["vendor"] if entity is None else ["employee"], since, key=handle)
            if entity is not None:
                world.relate(
                    party,
                    world.parties[entities[entity].party_id],
                    "employee_of",
                    since,
                    datetime.combine(ended, datetime.min.time(), UTC) if ended else None,
                    title=title,
                )
            active = ended is None or ended > END.date()
            member = Member(stable_uuid("person", handle), handle, role, party.party_id, active)
            self.members[handle] = member
            self.rows.append(
                {
                    "person_id": member.person_id,
                    "handle": handle,
                    "full_name": f"{first} {last}",
                    "role": role,
                    "is_owner": str(role == "owner").lower(),
                    "title": title,
                    "party_id": party.party_id,
                    "entity_code": entity or "",
                    "reports_to_id": stable_uuid("person", boss) if boss else "",
                    "email": f"{handle.lower()}@{'openhaul' if entity == 'OH' else 'origintransport'}.example",
                    "mobile_phone": f"+1918{rng.randint(2000000, 9999999)}",
                    "timezone": "America/Chicago",
                    "preferred_channel": rng.choice(["email", "sms", "call", "chat"]),
                    "signing_authority_usd": "1000000.00"
                    if role == "owner"
                    else "25000.00"
                    if role == "manager"
                    else "",
                    "started_on": iso(started),
                    "ended_on": iso(ended),
                    "active": str(active).lower(),
                }
            )

    def ids(self, *roles: str) -> list[str]:
        return [m.person_id for m in self.members.values() if m.role in roles and m.active]

    @property
    def broker_agents(self) -> list[str]:
        return self.ids("broker_agent")

    @property
    def owner(self) -> Member:
        return self.members["G"]
