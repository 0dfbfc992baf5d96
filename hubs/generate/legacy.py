"""The legacy system of the generated world: the old operational database a company arrives with,
in the shapes old trucking and brokerage software has, derived from the same world as the landing
files so that what a correct migration yields is known exactly.

Seven tables: companies, carriers, trucks, drivers, customers, repairs and one wide loads table. Each
legacy row keeps the world's key it was made from in `Legacy.truth` (never in the
legacy database), so a test can say which hub row each legacy row must become.

What makes it legacy (each drawn from one seeded random.Random, so a seed always writes the same
database):
- unit numbers written several ways: '#6520', 'unit 6520', ' 6520 ', '6520';
- one full-name column ('Young, Linda' or 'Linda Young'), status codes
  (dbt_project/seeds/legacy_status_codes.csv);
- money as text ('$2,450.00'), free-text places ('Tulsa, OK' or 'TULSA OK');
- soft deletes (`deleted` flag), an `active` flag;
- the same customer entered twice, spelled differently;
- one `loads` table for brokerage loads (kind 'B') and asset trips (kind 'A');
- `updated_at` that is sometimes not maintained (older than the row's last change).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as Connection
from psycopg2.extras import execute_values

#: legacy table -> its columns and their PostgreSQL types, in order
TABLES: dict[str, dict[str, str]] = {
    "companies": {
        "company_id": "integer primary key",
        "co_code": "text",
        "co_name": "text",
        "fein": "text",
        "co_type": "text",
        "state_of_inc": "text",
        "status": "text",
        "dissolved": "text",
        "updated_at": "timestamptz",
    },
    "carriers": {
        "carrier_id": "integer primary key",
        "dot_no": "text",
        "mc_no": "text",
        "carrier_name": "text",
        "approved": "text",
        "deleted": "boolean",
        "updated_at": "timestamptz",
    },
    "trucks": {
        "truck_id": "integer primary key",
        "unit_no": "text",
        "vin": "text",
        "make": "text",
        "model": "text",
        "yr": "integer",
        "status_cd": "text",
        "active": "boolean",
        "owner_code": "text",
        "deleted": "boolean",
        "updated_at": "timestamptz",
    },
    "drivers": {
        "driver_id": "integer primary key",
        "emp_code": "text",
        "full_name": "text",
        "license_no": "text",
        "license_st": "text",
        "license_class": "text",
        "license_exp": "text",
        "hired": "text",
        "termed": "text",
        "status_cd": "text",
        "cell": "text",
        "deleted": "boolean",
        "updated_at": "timestamptz",
    },
    "customers": {
        "cust_id": "integer primary key",
        "cust_code": "text",
        "cust_name": "text",
        "credit_limit": "text",
        "terms": "text",
        "active": "boolean",
        "updated_at": "timestamptz",
    },
    "repairs": {
        "ro_id": "integer primary key",
        "ro_no": "text",
        "truck_unit": "text",
        "category": "text",
        "status_cd": "text",
        "opened": "timestamptz",
        "closed": "timestamptz",
        "complaint": "text",
        "cause": "text",
        "fix": "text",
        "labor": "text",
        "updated_at": "timestamptz",
    },
    "loads": {
        "load_id": "integer primary key",
        "load_no": "text",
        "kind": "text",
        "cust_id": "integer",
        "carrier_id": "integer",
        "truck_unit": "text",
        "driver_code": "text",
        "equip": "text",
        "pickup_place": "text",
        "drop_place": "text",
        "rate": "text",
        "status_cd": "text",
        "pickup_date": "text",
        "delivered": "text",
        "deleted": "boolean",
        "updated_at": "timestamptz",
    },
}

#: how the old software coded statuses, per domain (truck, driver, load, trip): the dbt seed the
#: mapping models decode them with, so the generator and the mapping share one table
STATUS_CODES_CSV = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "legacy_status_codes.csv"


@cache
def status_codes(domain: str) -> dict[str, str]:
    """status -> the legacy code for it, in one domain."""
    with STATUS_CODES_CSV.open() as handle:
        return {row["status"]: row["code"] for row in csv.DictReader(handle) if row["domain"] == domain}


STALE_SHARE = 0.05  # rows whose updated_at was not maintained
DELETED_SHARE = 0.01  # soft-deleted rows (not in the hubs: a migration skips them)
DUPLICATE_SHARE = 0.2  # customers entered twice


@dataclass
class Legacy:
    """The legacy tables' rows, and for each row the world's key it was made from."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: (table, legacy id) -> (hub stem, world key); None: a row no hub row comes from (deleted)
    truth: dict[tuple[str, int], tuple[str, str] | None] = field(default_factory=dict)


def unit_spelling(rng: random.Random, unit: str) -> str:
    return rng.choice([f"#{unit}", f"unit {unit}", f" {unit} ", unit, f"UNIT#{unit}"])


def place(rng: random.Random, city: str, state: str) -> str:
    spellings = [f"{city}, {state}", f"{city},{state}", f"{city} {state}"]
    if city.upper().title() == city:  # capitals only where the mapping can restore the case
        spellings.append(f"{city.upper()} {state}")
    return rng.choice(spellings)


def money_text(rng: random.Random, amount: str) -> str:
    value = float(amount)
    return rng.choice([f"${value:,.2f}", f"{value:.2f}", f"{value:,.2f} USD"])


def full_name(rng: random.Random, first: str, last: str) -> str:
    return rng.choice([f"{last}, {first}", f"{first} {last}"])


def _latest(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The last version of each key (rows come in valid_from order per key)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row[key] not in latest or str(row.get("valid_from", "")) >= str(latest[row[key]].get("valid_from", "")):
            latest[row[key]] = row
    return latest


def _updated(rng: random.Random, changed: str) -> datetime:
    moment = datetime.fromisoformat(changed)
    if rng.random() < STALE_SHARE:  # not maintained: the row changed after this
        return moment - timedelta(days=rng.randint(30, 400))
    return moment


def build_legacy(world: dict[str, list[dict[str, Any]]], seed: int) -> Legacy:
    """The legacy database's rows from the world's good rows (`hubs.generate.build_rows`)."""
    rng = random.Random(seed + 11)
    legacy = Legacy()
    _companies(world, legacy)
    carrier_ids = _carriers(rng, world, legacy)
    _trucks(rng, world, legacy)
    _drivers(rng, world, legacy)
    customer_ids = _customers(rng, world, legacy)
    _repairs(rng, world, legacy)
    _loads(rng, world, legacy, customer_ids, carrier_ids)
    return legacy


def _add(legacy: Legacy, table: str, row: dict[str, Any], stem: str, key: str, deleted: bool) -> None:
    legacy.rows.setdefault(table, []).append(row)
    legacy.truth[table, row[next(iter(TABLES[table]))]] = None if deleted else (stem, key)


def _companies(world: dict[str, list[dict[str, Any]]], legacy: Legacy) -> None:
    for number, row in enumerate(sorted(world["hub5_financial.legal_entities"], key=lambda r: r["entity_code"]), 1):
        legacy_row = {
            "company_id": number,
            "co_code": row["entity_code"],
            "co_name": row["legal_name"],
            "fein": row["ein"].replace("-", ""),
            "co_type": row["entity_type"],
            "state_of_inc": row["formation_state"],
            "status": row["status"],
            "dissolved": row["dissolved_on"] or None,
            "updated_at": datetime.fromisoformat(f"{row['formed_on']}T00:00:00+00:00"),
        }
        _add(legacy, "companies", legacy_row, "hub5_financial.legal_entities", row["entity_code"], False)


def _carriers(rng: random.Random, world: dict[str, list[dict[str, Any]]], legacy: Legacy) -> dict[str, int]:
    """The carriers' table; usdot number -> carrier id."""
    ids = {}
    for number, row in enumerate(sorted(world["hub2_openhaul.carriers"], key=lambda r: r["usdot_number"]), 1):
        usdot = str(row["usdot_number"])
        deleted = rng.random() < DELETED_SHARE
        legacy_row = {
            "carrier_id": number,
            "dot_no": rng.choice([usdot, f"USDOT {usdot}", f"DOT#{usdot}"]),
            "mc_no": row["mc_docket"] or None,
            "carrier_name": row["legal_name"],
            "approved": status_codes("carrier")[row["onboarding_status"]],
            "deleted": deleted,
            "updated_at": _updated(rng, f"{row['packet_completed_on'] or '2020-01-01'}T00:00:00+00:00"),
        }
        _add(legacy, "carriers", legacy_row, "hub2_openhaul.carriers", usdot, deleted)
        ids[usdot] = number
    return ids


def _trucks(rng: random.Random, world: dict[str, list[dict[str, Any]]], legacy: Legacy) -> None:
    for number, (unit, row) in enumerate(sorted(_latest(world["hub3_origin.tractors"], "unit_number").items()), 1):
        deleted = rng.random() < DELETED_SHARE
        legacy_row = {
            "truck_id": number,
            "unit_no": unit_spelling(rng, unit),
            "vin": row["vin"],
            "make": row["make"],
            "model": row["model"],
            "yr": row["model_year"],
            "status_cd": status_codes("truck")[row["status"]],
            "active": row["status"] == "active",
            "owner_code": row["owner_entity"],
            "deleted": deleted,
            "updated_at": _updated(rng, row["valid_from"]),
        }
        _add(legacy, "trucks", legacy_row, "hub3_origin.tractors", unit, deleted)


def _drivers(rng: random.Random, world: dict[str, list[dict[str, Any]]], legacy: Legacy) -> None:
    for number, (code, row) in enumerate(sorted(_latest(world["hub3_origin.drivers"], "driver_code").items()), 1):
        deleted = rng.random() < DELETED_SHARE
        legacy_row = {
            "driver_id": number,
            "emp_code": code.lower() if rng.random() < 0.3 else code,
            "full_name": full_name(rng, row["first_name"], row["last_name"]),
            "license_no": row["cdl_number"],
            "license_st": row["cdl_state"],
            "license_class": row["cdl_class"],
            "license_exp": row["cdl_expires_on"],
            "hired": rng.choice([row["hire_date"], row["hire_date"].replace("-", "/")]),
            "termed": row.get("termination_date") or None,
            "status_cd": status_codes("driver")[row["status"]],
            "cell": row["mobile_phone"].removeprefix("+1"),
            "deleted": deleted,
            "updated_at": _updated(rng, row["valid_from"]),
        }
        _add(legacy, "drivers", legacy_row, "hub3_origin.drivers", code, deleted)


def _customers(rng: random.Random, world: dict[str, list[dict[str, Any]]], legacy: Legacy) -> dict[str, list[int]]:
    names = {p["party_id"]: p["display_name"] for p in world["hub4_contacts.parties"]}
    ids: dict[str, list[int]] = {}
    number = 0
    for row in sorted(world["hub2_openhaul.customers"], key=lambda r: r["customer_code"]):
        name = names.get(row["party_id"], row["customer_code"])
        spellings = [name] + ([name.upper().replace(",", "")] if rng.random() < DUPLICATE_SHARE else [])
        for spelling in spellings:
            number += 1
            legacy_row = {
                "cust_id": number,
                "cust_code": row["customer_code"],
                "cust_name": spelling,
                "credit_limit": money_text(rng, row["credit_limit"] or "0"),
                "terms": f"NET{row['payment_terms_days']}",
                "active": row["status"] == "active",
                "updated_at": _updated(rng, f"{row['customer_since']}T00:00:00+00:00"),
            }
            _add(legacy, "customers", legacy_row, "hub2_openhaul.customers", row["customer_code"], False)
            ids.setdefault(row["customer_code"], []).append(number)
    return ids


def _repairs(rng: random.Random, world: dict[str, list[dict[str, Any]]], legacy: Legacy) -> None:
    """Shop repair orders of tractors, with their free-text complaint, cause and fix."""
    orders = sorted(_latest(world["hub3_origin.maintenance_orders"], "ro_number").items())
    for number, (code, row) in enumerate(((c, r) for c, r in orders if r["asset_type"] == "tractor"), 1):
        legacy_row = {
            "ro_id": number,
            "ro_no": code,
            "truck_unit": unit_spelling(rng, row["unit_number"]),
            "category": row["category"],
            "status_cd": status_codes("repair")[row["status"]],
            "opened": row["opened_at"],
            "closed": row.get("closed_at") or None,
            "complaint": row.get("complaint") or None,
            "cause": row.get("cause") or None,
            "fix": row.get("correction") or None,
            "labor": money_text(rng, row["labor_cost"]) if row.get("labor_cost") else None,
            "updated_at": _updated(rng, row.get("closed_at") or row["opened_at"]),
        }
        _add(legacy, "repairs", legacy_row, "hub3_origin.maintenance_orders", code, False)


def _loads(
    rng: random.Random,
    world: dict[str, list[dict[str, Any]]],
    legacy: Legacy,
    customer_ids: dict[str, list[int]],
    carrier_ids: dict[str, int],
) -> None:
    number = 0
    for code, row in sorted(_latest(world["hub2_openhaul.loads"], "load_number").items()):
        number += 1
        deleted = rng.random() < DELETED_SHARE
        duplicates = customer_ids.get(row["customer_code"]) or [None]
        legacy_row = {
            "load_id": number,
            "load_no": code,
            "kind": "B",
            "cust_id": rng.choice(duplicates),
            "carrier_id": carrier_ids.get(str(row.get("carrier_usdot") or "")),
            "truck_unit": None,
            "driver_code": None,
            "equip": row["equipment"],
            "pickup_place": None,
            "drop_place": None,
            "rate": money_text(rng, row["customer_rate"] or "0"),
            "status_cd": status_codes("load")[row["status"]],
            "pickup_date": row["pickup_at"][:10],
            "delivered": row.get("delivered_at") or None,
            "deleted": deleted,
            "updated_at": _updated(rng, row["valid_from"]),
        }
        _add(legacy, "loads", legacy_row, "hub2_openhaul.loads", code, deleted)
    for code, row in sorted(_latest(world["hub3_origin.trips"], "trip_number").items()):
        number += 1
        deleted = rng.random() < DELETED_SHARE
        legacy_row = {
            "load_id": number,
            "load_no": code,
            "kind": "A",
            "cust_id": None,
            "carrier_id": None,
            "truck_unit": unit_spelling(rng, row["unit_number"]),
            "driver_code": row["driver_code"],
            "equip": None,
            "pickup_place": place(rng, row["origin_city"], row["origin_state"]),
            "drop_place": place(rng, row["dest_city"], row["dest_state"]),
            "rate": money_text(rng, row["revenue"] or "0"),
            "status_cd": status_codes("trip")[row["status"]],
            "pickup_date": row["planned_pickup_at"][:10],
            "delivered": row.get("delivered_at") or None,
            "deleted": deleted,
            "updated_at": _updated(rng, row["valid_from"]),
        }
        _add(legacy, "loads", legacy_row, "hub3_origin.trips", code, deleted)


def create_database(url: str) -> Connection:
    """A connection to the legacy database at `url`, created first if its server lacks it."""
    try:
        return psycopg2.connect(url)
    except psycopg2.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    parts = urlsplit(url)
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(unquote(parts.path.lstrip("/")))))
    finally:
        admin.close()
    return psycopg2.connect(url)


def write_legacy(conn: Connection, legacy: Legacy, schema: str = "public") -> dict[str, int]:
    """Create the legacy tables in `schema` (dropped first) and fill them; rows per table."""
    written = {}
    with conn.cursor() as cur:
        for table, columns in TABLES.items():
            name = sql.Identifier(schema, table)
            cur.execute(sql.SQL("drop table if exists {}").format(name))
            body = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns.items()
            )
            cur.execute(sql.SQL("create table {} ({})").format(name, body))
            rows = legacy.rows.get(table, [])
            if rows:
                insert = sql.SQL("insert into {} ({}) values %s").format(
                    name, sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                execute_values(
                    cur, insert.as_string(conn), [tuple(r[c] for c in columns) for r in rows], page_size=5000
                )
            written[table] = len(rows)
    conn.commit()
    return written
