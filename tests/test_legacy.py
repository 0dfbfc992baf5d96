"""The generated legacy system (issue 11, work in progress): derived from the same world as the
landing files, messy in the ways old software is, and its truth known row by row."""

from __future__ import annotations

import os
import re

import psycopg2
import pytest

from hubs.generate import build_rows
from hubs.generate.legacy import TABLES, build_legacy, write_legacy
from hubs.migrate.foreign import LEGACY_SCHEMA, LegacyUnreachable, attach
from tests.conftest import admin

SCALE, SEED = 0.02, 7


def unit_of(spelled: str) -> str:
    return re.sub(r"^(unit\s*#?|#)", "", spelled.strip(), flags=re.IGNORECASE).strip()


def test_the_legacy_rows_come_from_the_world_and_say_which_hub_row_they_become(empty_db: str) -> None:
    world = build_rows(SCALE, SEED)
    legacy = build_legacy(world, SEED)
    assert build_legacy(world, SEED).rows == legacy.rows, "a seed always makes the same legacy system"
    units = {r["unit_number"] for r in world["hub3_origin.tractors"]}
    spellings = set()
    for truck in legacy.rows["trucks"]:
        assert unit_of(truck["unit_no"]) in units, truck
        spellings.add(truck["unit_no"].replace(unit_of(truck["unit_no"]), "N"))
        truth = legacy.truth["trucks", truck["truck_id"]]
        assert (truth is None) == truck["deleted"] and (truth is None or truth[1] == unit_of(truck["unit_no"]))
    assert len(spellings) > 1, "unit numbers are written several ways"
    kinds = {row["kind"] for row in legacy.rows["loads"]}
    assert kinds == {"A", "B"}, "one wide loads table holds brokerage loads and asset trips"
    conn = psycopg2.connect(empty_db)
    try:
        written = write_legacy(conn, legacy)
        with conn.cursor() as cur:
            for table in TABLES:
                cur.execute(f"select count(*) from public.{table}")
                assert cur.fetchone()[0] == written[table] == len(legacy.rows.get(table, [])), table
    finally:
        conn.close()


def test_the_legacy_database_is_read_through_foreign_tables(postgres_server: str, empty_db: str) -> None:
    legacy = build_legacy(build_rows(SCALE, SEED), SEED)
    name = f"legacy{os.getpid()}"
    admin(postgres_server, f"create database {name}")
    try:
        source = psycopg2.connect(f"{postgres_server}/{name}")
        try:
            written = write_legacy(source, legacy)
        finally:
            source.close()
        hubs = psycopg2.connect(empty_db)
        try:
            assert attach(hubs, f"{postgres_server}/{name}") == sorted(TABLES)
            assert attach(hubs, f"{postgres_server}/{name}") == sorted(TABLES), "attaching again is harmless"
            with hubs.cursor() as cur:
                for table, count in written.items():
                    cur.execute(f"select count(*) from {LEGACY_SCHEMA}.{table}")
                    assert cur.fetchone()[0] == count, table
                cur.execute(f"select unit_no from {LEGACY_SCHEMA}.trucks where truck_id = 1")
                assert cur.fetchone()[0] == legacy.rows["trucks"][0]["unit_no"]
        finally:
            hubs.close()
    finally:
        admin(postgres_server, f"drop database if exists {name} with (force)")


def test_a_legacy_system_that_cannot_be_reached_is_named_without_its_password(
    postgres_server: str, empty_db: str
) -> None:
    hubs = psycopg2.connect(empty_db)
    try:
        url = postgres_server.replace("postgres@", "postgres:s3cret@") + "/no_such_legacy"
        with pytest.raises(LegacyUnreachable) as raised:
            attach(hubs, url)
        assert 'database "no_such_legacy" does not exist' in str(raised.value)
        assert "s3cret" not in str(raised.value) and "***" in str(raised.value)
    finally:
        hubs.close()
