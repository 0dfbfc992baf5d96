"""Hub 1, command: G's goals, the projects that serve them, the weekly meetings, the decisions
and tasks they produce, and what the group learns.

Goal progress is measured from the other hubs month by month (OpenHaul's margin and load
count, Origin's fuel economy), so the command hub and the operations agree; each
measurement is a goal version. Notes mention real units, loads and customers, so tasks and
insights point at keys that exist.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from hubs.generate.common import END, START, iso, stable_uuid
from hubs.generate.openhaul import OpenHaulBrokerage
from hubs.generate.origin import OriginFleet
from hubs.generate.staff import Staff
from hubs.generate.world import World

PROJECTS = [  # (code, name, goal key, owner, start, due, status, description)
    (
        "FUEL-CARDS",
        "Consolidate fuel cards on one network",
        "ot_mpg_2025",
        "renee",
        date(2024, 11, 4),
        date(2025, 3, 31),
        "done",
        "Move every Origin unit to one fuel card network with in-network discounts and per-unit limits.",
    ),
    (
        "APU-RETRO",
        "Retrofit APUs on sleeper units",
        "ot_mpg_2025",
        "renee",
        date(2025, 2, 3),
        date(2025, 9, 30),
        "done",
        "Cut overnight idling by fitting auxiliary power units to the sleeper fleet.",
    ),
    (
        "CARRIER-VET",
        "Automate carrier vetting",
        "oh_margin_2025",
        "marcus",
        date(2024, 12, 2),
        date(2025, 4, 30),
        "done",
        "Pull authority and insurance from QCMobile before every tender; block failing carriers.",
    ),
    (
        "DAT-RATES",
        "Price from live lane rates",
        "oh_margin_2025",
        "alvarez",
        date(2025, 3, 3),
        date(2025, 8, 29),
        "done",
        "Quote from current market rates per lane instead of last month's spreadsheet.",
    ),
    (
        "IC-AUTOMATE",
        "Automate intercompany billing",
        "ic_share_2026",
        "priya",
        date(2025, 8, 4),
        date(2026, 2, 27),
        "done",
        "Mirror Origin's invoices to OpenHaul as bills automatically and eliminate at month end.",
    ),
    (
        "OOS-DOWN",
        "Bring vehicle out-of-service rate down",
        "ot_oos_2026",
        "bo",
        date(2026, 1, 5),
        date(2026, 12, 18),
        "active",
        "Pre-trip coaching, brake and light blitz, and a maintenance check before every roadside-heavy lane.",
    ),
    (
        "LOADS-12K",
        "Scale OpenHaul to 12k loads a year",
        "oh_loads_2026",
        "marcus",
        date(2026, 1, 5),
        date(2026, 12, 31),
        "active",
        "Add two customers a quarter and a carrier sales desk.",
    ),
    (
        "FLEET-2027",
        "Plan the 2027 tractor replacement",
        "group_revenue_2026",
        "G",
        date(2026, 9, 1),
        date(2027, 3, 31),
        "proposed",
        "Choose which units to sell and what to buy for 2027.",
    ),
]
TOPICS = [
    (
        "Unit {unit} in the shop again",
        "{unit} was down {days} days for {repair}. Renee wants a second opinion on the "
        "engine before we put more into it.",
        "tractor:{unit}",
        "operations",
    ),
    (
        "Customer {customer} paying late",
        "{customer} is averaging {dtp} days to pay against {terms}-day terms. Priya "
        "suggests credit hold if it passes 60.",
        "customer:{customer}",
        "finance",
    ),
    (
        "Load {load} margin",
        "Load {load} went out at a thin margin ({margin}). Marcus: lane rate was stale.",
        "load:{load}",
        "sales",
    ),
    (
        "Fuel spend",
        "Fleet fuel economy this month {mpg} mpg. Diesel averaged {price} a gallon.",
        "entity:OT",
        "operations",
    ),
    (
        "Roadside inspections",
        "Two roadside inspections with violations this month; brakes and lights again.",
        "tractor:{unit}",
        "safety",
    ),
]


def month_starts(first: date, last: date) -> list[date]:
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return out


def at(day: date, hour: int = 15) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)


class Command:
    def __init__(
        self, rng: random.Random, world: World, staff: Staff, openhaul: OpenHaulBrokerage, origin: OriginFleet
    ) -> None:
        self.rng = rng
        self.world = world
        self.staff = staff
        self.openhaul = openhaul
        self.origin = origin
        self.rows: dict[str, list[dict]] = {
            name: [] for name in ("persons", "goals", "projects", "meeting_notes", "decisions", "tasks", "insights")
        }
        self.goal_ids: dict[str, str] = {}

    def person(self, handle: str) -> str:
        return self.staff.members[handle].person_id

    # -- measurements from the other hubs ----------------------------------------------------------

    def monthly_metrics(self) -> dict[str, dict[date, float]]:
        margin_num: dict[date, float] = defaultdict(float)
        margin_den: dict[date, float] = defaultdict(float)
        loads: dict[date, int] = defaultdict(int)
        for load in self.openhaul.loads:
            if load["status"] != "delivered":
                continue
            month = datetime.fromisoformat(load["delivered_at"]).date().replace(day=1)
            rate, cost = float(load["customer_rate"]), float(load["carrier_rate"])
            margin_num[month] += rate - cost
            margin_den[month] += rate
            loads[month] += 1
        miles: dict[date, float] = defaultdict(float)
        gallons: dict[date, float] = defaultdict(float)
        for trip in self.origin.trips:
            month = datetime.fromisoformat(trip["dispatched_at"]).date().replace(day=1)
            miles[month] += float(trip["loaded_miles"]) + float(trip["empty_miles"])
        for txn in self.origin.rows["fuel_transactions"]:
            if txn["product"] == "DSL":
                gallons[datetime.fromisoformat(txn["transacted_at"]).date().replace(day=1)] += float(txn["gallons"])
        return {
            "margin_pct": {m: 100 * margin_num[m] / margin_den[m] for m in margin_den if margin_den[m]},
            "loads": dict(loads),
            "mpg": {m: miles[m] / gallons[m] for m in gallons if gallons[m]},
        }

    # -- goals -------------------------------------------------------------------------------------

    def goals(self) -> None:
        metrics = self.monthly_metrics()
        specs = [  # key, title, entity, period, metric, unit, baseline, target, owner, parent, series
            (
                "group_revenue_2026",
                "Grow group revenue 15% in 2026",
                None,
                "2026",
                "group revenue",
                "pct",
                0,
                15,
                "G",
                None,
                None,
            ),
            (
                "oh_margin_2025",
                "Lift OpenHaul gross margin to 14%",
                "OH",
                "2025",
                "gross margin",
                "pct",
                11.5,
                14,
                "marcus",
                None,
                "margin_pct",
            ),
            (
                "ot_mpg_2025",
                "Fleet fuel economy of 7.0 mpg",
                "OT",
                "2025",
                "fleet mpg",
                "mpg",
                6.5,
                7.0,
                "renee",
                None,
                "mpg",
            ),
            (
                "oh_loads_2026",
                "Move 12,000 loads in 2026",
                "OH",
                "2026",
                "loads delivered",
                "count",
                0,
                max(12, round(len(self.openhaul.loads) / 2)),
                "marcus",
                "group_revenue_2026",
                "loads",
            ),
            (
                "ot_oos_2026",
                "Vehicle out-of-service rate under 15%",
                "OT",
                "2026",
                "vehicle OOS rate",
                "pct",
                22,
                15,
                "bo",
                "group_revenue_2026",
                None,
            ),
            (
                "ic_share_2026",
                "Intercompany share of Origin revenue at 20%",
                None,
                "2026",
                "intercompany share",
                "pct",
                12,
                20,
                "G",
                "group_revenue_2026",
                None,
            ),
        ]
        for quarter in (1, 2, 3, 4):
            specs.append(
                (
                    f"oh_margin_2025_q{quarter}",
                    f"OpenHaul margin 14% in Q{quarter} 2025",
                    "OH",
                    f"2025-Q{quarter}",
                    "gross margin",
                    "pct",
                    11.5,
                    14,
                    "marcus",
                    "oh_margin_2025",
                    "margin_pct",
                )
            )
        for key, *_ in specs:
            self.goal_ids[key] = stable_uuid("goal", key)
        for key, title, entity, period, metric, unit, baseline, target, owner, parent, series in specs:
            year = int(period[:4])
            first = date(year, 1, 1) if "-Q" not in period else date(year, 3 * int(period[-1]) - 2, 1)
            last = (
                date(year, 12, 31)
                if "-Q" not in period
                else (date(year, 3 * int(period[-1]), 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            )
            base = {
                "goal_id": self.goal_ids[key],
                "title": title,
                "description": f"{metric} from {baseline} to {target} ({period}).",
                "entity_code": entity or "",
                "period": period,
                "metric": metric,
                "unit": unit,
                "direction": "decrease" if target < baseline else "increase",
                "baseline": f"{baseline:.2f}",
                "target": f"{target:.2f}",
                "priority": "high",
                "confidence": "",
                "target_date": iso(last),
                "parent_goal_id": self.goal_ids[parent] if parent else "",
                "owner_id": self.person(owner),
            }
            set_at = at(first - timedelta(days=10))
            self.rows["goals"].append(
                {
                    **base,
                    "current": "",
                    "measured_at": "",
                    "status": "not_started",
                    "valid_from": iso(min(set_at, at(START.date())) if first < START.date() else set_at),
                }
            )
            cumulative = 0.0
            for month in month_starts(max(first, START.date().replace(day=1)), min(last, END.date())):
                measured = at((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), 22)
                if measured > END:
                    break
                if series == "loads":
                    cumulative += metrics["loads"].get(month, 0)
                    value = cumulative
                elif series:
                    value = metrics[series].get(month, baseline)
                else:
                    months = (month.year - first.year) * 12 + month.month - first.month + 1
                    value = baseline + (target - baseline) * min(1.0, months / 12) * self.rng.uniform(0.7, 1.05)
                progress = (value - baseline) / (target - baseline) if target != baseline else 1
                elapsed = (measured.date() - first).days / max(1, (last - first).days)
                done = measured.date() >= last and progress >= 1
                status = (
                    "completed"
                    if done
                    else "on_track"
                    if progress >= elapsed * 0.9
                    else "at_risk"
                    if progress >= elapsed * 0.6
                    else "behind"
                )
                self.rows["goals"].append(
                    {
                        **base,
                        "current": f"{value:.2f}",
                        "measured_at": iso(measured),
                        "status": status,
                        "confidence": f"{min(1, max(0, 0.5 + progress - elapsed)):.2f}",
                        "valid_from": iso(measured),
                    }
                )

    # -- projects, notes, decisions, tasks, insights ----------------------------------------------

    def projects(self) -> None:
        for code, name, goal, owner, start, due, status, description in PROJECTS:
            self.rows["projects"].append(
                {
                    "project_id": stable_uuid("project", code),
                    "code": code,
                    "name": name,
                    "description": description,
                    "status": status,
                    "priority": "high" if status == "active" else "normal",
                    "health": "green" if status != "active" else self.rng.choice(["green", "yellow"]),
                    "goal_id": self.goal_ids[goal],
                    "owner_id": self.person(owner),
                    "sponsor_id": self.person("G"),
                    "entity_code": "OH" if goal.startswith("oh") else "OT" if goal.startswith("ot") else "",
                    "start_date": iso(start),
                    "due_date": iso(due),
                    "completed_on": iso(due - timedelta(days=self.rng.randint(0, 20))) if status == "done" else "",
                    "budget": f"{self.rng.choice([15, 40, 75, 120, 250]) * 1000:.2f}",
                    "spent": f"{self.rng.uniform(5, 60) * 1000:.2f}",
                    "percent_complete": "100.00"
                    if status == "done"
                    else f"{self.rng.uniform(10, 80):.2f}"
                    if status == "active"
                    else "0.00",
                    "tags": "{"
                    + ",".join(sorted({code.split("-")[0].lower(), "fleet" if goal.startswith("ot") else "brokerage"}))
                    + "}",
                }
            )

    def facts(self) -> dict:
        """Real keys the notes talk about."""
        repaired = [o for o in self.origin.rows["maintenance_orders"] if o["category"] in ("repair", "breakdown")]
        delivered = [ld for ld in self.openhaul.loads if ld["status"] == "delivered"]
        return {"repairs": repaired, "loads": delivered, "customers": self.openhaul.customers}

    def notes_decisions_tasks(self) -> None:
        facts = self.facts()
        open_decisions: list[dict] = []
        monday = START.date() + timedelta(days=(7 - START.weekday()) % 7)
        week = 0
        while monday < END.date():
            occurred = at(monday, 14)
            topic = TOPICS[week % len(TOPICS)]
            repair = self.rng.choice(facts["repairs"]) if facts["repairs"] else None
            load = self.rng.choice(facts["loads"]) if facts["loads"] else None
            customer = self.rng.choice(facts["customers"])
            values = {
                "unit": repair["unit_number"] if repair else "6520",
                "days": self.rng.randint(1, 4),
                "repair": (repair["complaint"].lower() if repair else "brakes"),
                "customer": customer["customer_code"],
                "dtp": customer["days_to_pay_avg"],
                "terms": customer["payment_terms_days"],
                "load": load["load_number"] if load else "OH-100001",
                "margin": f"{100 * (1 - float(load['carrier_rate']) / float(load['customer_rate'])):.1f}%"
                if load
                else "9%",
                "mpg": f"{self.rng.uniform(6.4, 7.2):.2f}",
                "price": f"${self.rng.uniform(3.4, 4.1):.2f}",
            }
            title = "Weekly ops review: " + topic[0].format(**values)
            project = self.rng.choice([p for p in self.rows["projects"] if p["start_date"] <= iso(monday)] or [None])
            note_id = stable_uuid("note", iso(monday))
            body = (
                f"Attendees: G, Renee, Marcus, Priya. {topic[1].format(**values)} "
                f"Project {project['code'] if project else 'none'} discussed. Next review in a week."
            )
            self.rows["meeting_notes"].append(
                {
                    "note_id": note_id,
                    "kind": "meeting",
                    "occurred_at": iso(occurred),
                    "title": title,
                    "body": body,
                    "summary": topic[1].format(**values)[:160],
                    "author_id": self.person("priya"),
                    "attendee_party_ids": "{"
                    + ",".join(self.staff.members[h].party_id for h in ("G", "renee", "marcus", "priya"))
                    + "}",
                    "project_id": project["project_id"] if project else "",
                    "entity_code": "",
                    "duration_minutes": 45,
                    "location": "Tulsa office",
                    "sentiment": self.rng.choice(["positive", "neutral", "neutral", "negative"]),
                    "action_items": json.dumps(
                        [{"who": "renee", "what": topic[0].format(**values), "due": iso(monday + timedelta(days=7))}]
                    ),
                    "transcribed": "false",
                    "source_uri": "",
                    "tags": "{" + topic[3] + "}",
                }
            )
            subject = topic[2].format(**values)
            if week % 3 == 0:
                decision = self.decision(note_id, occurred, topic, values, project, open_decisions)
                self.task(f"Carry out: {decision['title']}", subject, occurred, note_id, decision, project)
            self.task(topic[0].format(**values), subject, occurred, note_id, None, project)
            if week % 4 == 1:
                self.insight(note_id, occurred, topic, values, subject)
            monday += timedelta(days=7)
            week += 1

    def decision(
        self,
        note_id: str,
        occurred: datetime,
        topic: tuple,
        values: dict,
        project: dict | None,
        open_decisions: list[dict],
    ) -> dict:
        decided = occurred + timedelta(days=2)
        decision_id = stable_uuid("decision", note_id)
        domain = topic[3]
        title = {
            "operations": "Replace instead of repairing units over 600k miles",
            "finance": f"Credit hold for customers paying after 60 days ({values['customer']})",
            "sales": "Re-price lanes weekly from live market rates",
            "safety": "Brake and light check before every roadside-heavy lane",
        }.get(domain, "Review fuel stops")
        base = {
            "decision_id": decision_id,
            "title": title,
            "decided_on": iso(decided.date()),
            "domain": domain,
            "impact": self.rng.choice(["high", "medium", "low"]),
            "context": topic[1].format(**values),
            "options": json.dumps(
                [
                    {"option": "act now", "pros": "stops the loss", "cons": "cost"},
                    {"option": "wait a quarter", "pros": "more data", "cons": "loss continues"},
                ]
            ),
            "chosen_option": "act now",
            "rationale": "The numbers in the weekly review justify acting now.",
            "cost_impact_usd": f"{self.rng.uniform(-40000, 15000):.2f}",
            "reversible": "true",
            "review_on": iso(decided.date() + timedelta(days=90)),
            "superseded_by": "",
            "project_id": project["project_id"] if project else "",
            "note_id": note_id,
            "decided_by_id": self.person("G"),
            "tags": "{" + domain + "}",
        }
        versions = [
            {**base, "status": "proposed", "valid_from": iso(occurred)},
            {**base, "status": "accepted", "valid_from": iso(decided)},
        ]
        self.rows["decisions"].extend(versions)
        earlier = next((d for d in open_decisions if d["title"] == title), None)
        if earlier is not None:
            # the same question decided again: the new decision supersedes the old one
            self.rows["decisions"].append(
                {
                    **earlier,
                    "status": "superseded",
                    "superseded_by": decision_id,
                    "valid_from": iso(decided + timedelta(minutes=5)),
                }
            )
            open_decisions.remove(earlier)
        open_decisions.append(versions[-1])
        return base

    def task(
        self, title: str, subject: str, created: datetime, note_id: str, decision: dict | None, project: dict | None
    ) -> None:
        due = created + timedelta(days=self.rng.randint(3, 30))
        status = self.rng.choices(["done", "in_progress", "todo", "blocked", "canceled"], [70, 10, 10, 5, 5])[0]
        if due > END:
            status = self.rng.choice(["todo", "in_progress"])
        started = created + timedelta(hours=self.rng.randint(2, 72))
        completed = started + timedelta(hours=self.rng.randint(1, 200)) if status == "done" else None
        self.rows["tasks"].append(
            {
                "task_id": stable_uuid("task", note_id, title),
                "title": title,
                "description": "",
                "status": status,
                "priority": self.rng.choice(["low", "normal", "high"]),
                "due_at": iso(due),
                "started_at": iso(started) if status != "todo" else "",
                "completed_at": iso(completed),
                "blocked_reason": "Waiting on vendor quote" if status == "blocked" else "",
                "assignee_id": self.person(self.rng.choice(["renee", "marcus", "priya", "bo", "kelly"])),
                "created_by_id": self.person("G"),
                "project_id": project["project_id"] if project else "",
                "decision_id": decision["decision_id"] if decision else "",
                "note_id": note_id,
                "subject_key": subject,
                "estimate_hours": f"{self.rng.choice([1, 2, 4, 8]):.2f}",
                "actual_hours": "",
                "recurrence": "none",
                "tags": "",
            }
        )

    def insight(self, note_id: str, occurred: datetime, topic: tuple, values: dict, subject: str) -> None:
        kind = {"operations": "risk", "finance": "risk", "sales": "opportunity", "safety": "pattern"}.get(
            topic[3], "observation"
        )
        entity, key = subject.split(":", 1)
        table = {
            "tractor": "hub3_origin.tractors",
            "customer": "hub2_openhaul.customers",
            "load": "hub2_openhaul.loads",
            "entity": "hub5_financial.legal_entities",
        }[entity]
        base = {
            "insight_id": stable_uuid("insight", note_id),
            "statement": topic[1].format(**values),
            "kind": kind,
            "domain": topic[3],
            "evidence": json.dumps([{"hub": table.split(".")[0], "table": table.split(".")[1], "key": key}]),
            "impact_usd": f"{self.rng.uniform(2000, 60000):.2f}",
            "derived_from_note": note_id,
            "goal_id": self.goal_ids["oh_margin_2025"] if topic[3] == "sales" else self.goal_ids["ot_mpg_2025"],
            "reviewed_by_id": self.person("G"),
            "action_task_id": "",
            "created_by": "priya",
            "tags": "{" + topic[3] + "}",
        }
        first = {
            **base,
            "confidence": f"{self.rng.uniform(0.4, 0.6):.2f}",
            "status": "open",
            "valid_from": iso(occurred),
        }
        self.rows["insights"].append(first)
        later = occurred + timedelta(days=self.rng.randint(14, 60))
        if later < END:
            self.rows["insights"].append(
                {
                    **base,
                    "confidence": f"{self.rng.uniform(0.7, 0.95):.2f}",
                    "status": self.rng.choice(["validated", "acted_on"]),
                    "valid_from": iso(later),
                }
            )

    def simulate(self) -> Command:
        self.rows["persons"] = self.staff.rows
        self.goals()
        self.projects()
        self.notes_decisions_tasks()
        return self

    def rows_by_table(self) -> dict[str, list[dict]]:
        return self.rows
