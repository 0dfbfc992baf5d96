"""Row-level rules, upserts, history and deletes, through the real dbt project."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import assert_built, build, execute, land, query, run_dbt, scalar, write_csv
from tests.test_landing import tractor


def landed_so_far(url: str) -> int:
    return scalar(url, "select coalesce(max(_landing_seq), 0) from quarantine.rows")


def reasons(url: str, entity: str, since: int) -> dict[str, list[str]]:
    """Reasons of the rows quarantined after `since`, by their raw key column value."""
    key = {
        "hub3_origin.tractors": "unit_number",
        "hub3_origin.trips": "trip_number",
        "hub3_origin.fuel_transactions": "transaction_id",
    }[entity]
    rows = query(
        url,
        "select raw ->> %s, reasons from quarantine.rows where entity = %s and _landing_seq > %s order by _landing_seq",
        (key, entity, since),
    )
    found: dict[str, list[str]] = {}
    for value, why in rows:
        found.setdefault(value or "", []).extend(why)
    return found


def assert_reconciled(url: str) -> None:
    """Landed rows = accepted + quarantined, for every entity."""
    for (table,) in query(
        url,
        "select table_name from information_schema.tables where table_schema = 'landing' and table_name <> '_files'",
    ):
        landed = scalar(url, f"select count(*) from landing.{table}")
        accepted = scalar(url, f"select count(*) from staging.stg_{table} where _accepted")
        quarantined = scalar(
            url, "select count(*) from quarantine.rows where entity = %s", (table.replace("__", ".", 1),)
        )
        assert landed == accepted + quarantined, (table, landed, accepted, quarantined)


def first_trip(url: str) -> dict[str, str]:
    columns = ["trip_number", "unit_number", "driver_code", "status", "dispatched_at", "delivered_at", "valid_from"]
    row = query(url, f"select {', '.join(columns)} from hub3_origin.trips where status = 'delivered' limit 1")[0]
    return {c: (v.isoformat() if hasattr(v, "isoformat") else str(v)) for c, v in zip(columns, row, strict=True)}


def test_every_row_rule_quarantines_with_its_reason(db: str, landing_dir: Path) -> None:
    since = landed_so_far(db)
    existing_vin = scalar(db, "select vin from hub3_origin.tractors where unit_number = '6520'")
    write_csv(
        landing_dir / "hub3_origin.tractors.csv",
        [
            tractor("7001"),  # good
            tractor("", vin=tractor("7002")["vin"]),  # missing key
            tractor("7003", model_year="19x9"),  # wrong type
            tractor("7004", status="parked"),  # CHECK violation
            tractor("7005"),
            tractor("7005"),  # duplicate key within the file
            tractor("7006", vin=existing_vin),  # UNIQUE clash with a current row
        ],
    )
    trip = first_trip(db)
    write_csv(
        landing_dir / "hub3_origin.trips.csv",
        [
            {**trip, "trip_number": "OT-990001", "driver_code": "GHOST1"},  # FK to a missing parent
            {**trip, "trip_number": "OT-990002", "unit_number": "7001"},  # parent landed in the same load
        ],
    )
    assert all(r.status == "loaded" for r in land(landing_dir))
    result = build(db)
    assert result.returncode == 0, result.stdout[-3000:]

    found = reasons(db, "hub3_origin.tractors", since)
    assert found[""] == ["missing_key: unit_number is empty"]
    assert found["7003"] == ["type: model_year '19x9' is not a valid smallint"]
    assert found["7004"] == [
        "check: tractors_status_check - status = parked breaks "
        "status in ('active', 'maintenance', 'out_of_service', 'sold')"
    ]
    assert len(found["7005"]) == 2 and all(
        r.startswith("duplicate_key: unit_number, valid_from = 7005") for r in found["7005"]
    )
    assert found["7006"] == ["unique: vin = " + existing_vin + " already belongs to another unit_number"]
    assert "7001" not in found
    assert reasons(db, "hub3_origin.trips", since) == {
        "OT-990001": ["fk: driver_code = GHOST1 not found in hub3_origin.drivers"]
    }
    assert scalar(db, "select count(*) from hub3_origin.trips where trip_number = 'OT-990002'") == 1
    assert scalar(db, "select count(*) from hub3_origin.tractors where unit_number like '70%'") == 1
    assert_reconciled(db)


def test_quarantine_keeps_the_raw_row_and_where_it_came_from(db: str, landing_dir: Path) -> None:
    write_csv(landing_dir / "hub3_origin.tractors.csv", [tractor("7001"), tractor("7002", model_year="soon")])
    land(landing_dir)
    assert_built(build(db, "+tractors"))
    [(raw, row_number, file_name)] = query(
        db,
        "select q.raw, q.row_number, f.file_name from quarantine.rows q"
        " join landing._files f on f.file_id = q.file_id where q.raw ->> 'unit_number' = '7002'",
    )
    assert raw["model_year"] == "soon" and raw["make"] == "Kenworth"
    assert (row_number, file_name) == (2, "hub3_origin.tractors.csv")


def test_new_version_updates_current_and_extends_history(db: str, landing_dir: Path) -> None:
    current = scalar(db, "select valid_from from hub3_origin.tractors where unit_number = '6520'")
    versions = scalar(db, "select count(*) from hub3_origin.tractors_history where unit_number = '6520'")
    row = {
        c: v
        for c, v in zip(
            [d for d in ("unit_number", "vin", "make", "model", "model_year", "owner_entity")],
            query(
                db,
                "select unit_number, vin, make, model, model_year, owner_entity from hub3_origin.tractors"
                " where unit_number = '6520'",
            )[0],
            strict=True,
        )
    }
    later = "2026-11-20T08:00:00+00:00"
    write_csv(landing_dir / "hub3_origin.tractors.csv", [{**row, "status": "out_of_service", "valid_from": later}])
    land(landing_dir)
    assert_built(build(db, "+tractors", "+tractors_history"))
    assert query(db, "select status, valid_from::text from hub3_origin.tractors where unit_number = '6520'") == [
        ("out_of_service", "2026-11-20 08:00:00+00")
    ]
    assert scalar(db, "select count(*) from hub3_origin.tractors_history where unit_number = '6520'") == versions + 1
    assert query(
        db,
        "select valid_to::text from hub3_origin.tractors_history where unit_number = '6520' and valid_from = %s",
        (current,),
    ) == [("2026-11-20 08:00:00+00",)]

    # A version that happened earlier but arrives late slots into history; current stays.
    write_csv(
        landing_dir / "hub3_origin.tractors.csv",
        [{**row, "status": "maintenance", "valid_from": "2026-11-19T08:00:00+00:00"}],
    )
    land(landing_dir)
    assert_built(build(db, "+tractors", "+tractors_history"))
    assert scalar(db, "select status from hub3_origin.tractors where unit_number = '6520'") == "out_of_service"
    assert query(
        db,
        "select status, valid_to::text from hub3_origin.tractors_history where unit_number = '6520'"
        " and valid_from = '2026-11-19 08:00:00+00'",
    ) == [("maintenance", "2026-11-20 08:00:00+00")]
    assert (
        scalar(
            db,
            "select count(*) from hub3_origin.tractors_history h1 join hub3_origin.tractors_history h2"
            " on h1.unit_number = h2.unit_number and h1.valid_from < h2.valid_from"
            " and h1.valid_to > h2.valid_from",
        )
        == 0
    )


def test_rebuild_without_new_data_changes_nothing(db: str, landing_dir: Path) -> None:
    snapshot = "select count(*), max(updated_at), sum(hashtext(_row_hash)) from hub3_origin.{}"
    tables = ["tractors", "drivers", "trips", "fuel_transactions", "hos_events", "driver_assignments"]
    before = {t: query(db, snapshot.format(t)) for t in tables}
    assert_built(build(db))
    assert {t: query(db, snapshot.format(t)) for t in tables} == before

    # The same rows again in a new file (other order, so another checksum) change nothing either.
    rows = query(db, "select raw from quarantine.rows limit 0")
    assert rows == []
    trip = first_trip(db)
    write_csv(landing_dir / "hub3_origin.trips.csv", [trip])
    land(landing_dir)
    stamp = scalar(db, "select updated_at from hub3_origin.trips where trip_number = %s", (trip["trip_number"],))
    assert_built(build(db, "+trips"))
    # the landed copy only carries some columns, so it is a change; landing it twice is not
    changed = scalar(db, "select updated_at from hub3_origin.trips where trip_number = %s", (trip["trip_number"],))
    assert changed > stamp
    (landing_dir / "hub3_origin.trips.csv").write_text((landing_dir / "hub3_origin.trips.csv").read_text() + "\n")
    land(landing_dir)
    assert_built(build(db, "+trips"))
    assert (
        scalar(db, "select updated_at from hub3_origin.trips where trip_number = %s", (trip["trip_number"],)) == changed
    )


def test_leaf_delete_applies_and_is_logged(db: str, landing_dir: Path) -> None:
    provider, txn = query(db, "select card_provider, transaction_id from hub3_origin.fuel_transactions limit 1")[0]
    write_csv(
        landing_dir / "hub3_origin.fuel_transactions.csv",
        [{"card_provider": provider, "transaction_id": txn, "_deleted": "true"}],
    )
    land(landing_dir)
    assert_built(build(db))
    assert scalar(db, "select count(*) from hub3_origin.fuel_transactions where transaction_id = %s", (txn,)) == 0
    assert query(db, "select status, key from hubs_meta.hub_deletions") == [
        ("applied", {"card_provider": provider, "transaction_id": txn})
    ]
    assert_reconciled(db)


def test_delete_of_a_referenced_parent_is_refused_with_the_reason(db: str, landing_dir: Path) -> None:
    write_csv(landing_dir / "hub3_origin.tractors.csv", [{"unit_number": "6520", "_deleted": "true"}])
    land(landing_dir)
    assert_built(build(db))
    assert scalar(db, "select count(*) from hub3_origin.tractors where unit_number = '6520'") == 1
    [(why,)] = query(
        db,
        "select reasons from quarantine.rows where entity = 'hub3_origin.tractors' and raw ->> 'unit_number' = '6520'",
    )
    assert why[0].startswith("delete_refused: still referenced by") and "hub3_origin.trips" in why[0]
    assert scalar(db, "select status from hubs_meta.hub_deletions") == "refused"
    assert_reconciled(db)


def test_parent_and_children_deleted_in_one_load_all_go_in_one_run(db: str, landing_dir: Path) -> None:
    unit = tractor("7100")
    fuel = {
        "card_provider": "WEX",
        "transaction_id": "T1",
        "unit_number": "7100",
        "transacted_at": "2026-01-05T10:00:00+00:00",
        "jurisdiction": "OK",
        "product": "DSL",
        "gallons": "100.000",
        "price_per_gallon": "3.500",
        "total_amount": "350.00",
    }
    write_csv(landing_dir / "hub3_origin.tractors.csv", [unit])
    write_csv(landing_dir / "hub3_origin.fuel_transactions.csv", [fuel])
    land(landing_dir)
    assert_built(build(db))
    assert scalar(db, "select count(*) from hub3_origin.fuel_transactions where unit_number = '7100'") == 1

    second = landing_dir / "second"
    second.mkdir()
    write_csv(second / "hub3_origin.tractors.csv", [{"unit_number": "7100", "_deleted": "true"}])
    write_csv(
        second / "hub3_origin.fuel_transactions.csv",
        [{"card_provider": "WEX", "transaction_id": "T1", "_deleted": "yes"}],
    )
    land(second)
    assert_built(build(db))
    assert scalar(db, "select count(*) from hub3_origin.tractors where unit_number = '7100'") == 0
    assert scalar(db, "select count(*) from hub3_origin.tractors_history where unit_number = '7100'") == 0
    assert scalar(db, "select count(*) from hub3_origin.fuel_transactions where unit_number = '7100'") == 0
    assert scalar(db, "select count(*) from hubs_meta.hub_deletions where status = 'applied'") == 2


def test_delete_then_insert_in_one_load_keeps_the_insert(db: str, landing_dir: Path) -> None:
    provider, txn, unit = query(
        db, "select card_provider, transaction_id, unit_number from hub3_origin.fuel_transactions limit 1"
    )[0]
    first, second = landing_dir / "a", landing_dir / "b"
    first.mkdir()
    second.mkdir()
    write_csv(
        first / "hub3_origin.fuel_transactions.csv",
        [{"card_provider": provider, "transaction_id": txn, "_deleted": "true"}],
    )
    write_csv(
        second / "hub3_origin.fuel_transactions.csv",
        [
            {
                "card_provider": provider,
                "transaction_id": txn,
                "unit_number": unit,
                "transacted_at": "2026-02-01T10:00:00+00:00",
                "jurisdiction": "TX",
                "product": "DSL",
                "gallons": "10.000",
                "price_per_gallon": "3.000",
                "total_amount": "30.00",
            }
        ],
    )
    land(first, second)
    assert_built(build(db))
    assert query(
        db, "select jurisdiction, gallons::text from hub3_origin.fuel_transactions where transaction_id = %s", (txn,)
    ) == [("TX", "10.000")]


def test_a_first_build_analyzes_the_tables_it_fills(db: str) -> None:
    # The tests that run right after a model are planned with its statistics: without them a
    # validation on 8 M rows became a nested loop (612 s at scale 10). The tables are built anew
    # in a private copy and looked at at once: the statistics' counters do not survive a crash
    # of the shared server (tests/test_server_kills.py kills it), and autovacuum's own analyses
    # show as last_autoanalyze, so last_analyze is the build's.
    execute(db, "drop table staging.stg_hub3_origin__hos_events, hub3_origin.hos_events")
    built = run_dbt(["run", "--select", "path:models/staging/hub3_origin/stg_hub3_origin__hos_events.sql+1"], db)
    assert built.returncode == 0, built.stdout[-4000:]
    tables = query(
        db,
        "select schemaname || '.' || relname, last_analyze is not null from pg_stat_user_tables"
        " where relname in ('stg_hub3_origin__hos_events', 'hos_events') order by 1",
    )
    assert tables == [("hub3_origin.hos_events", True), ("staging.stg_hub3_origin__hos_events", True)]
