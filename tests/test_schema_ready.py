"""The landing DDL runs where the schema can change (hubs up, the landing step, a catalog change),
not on every connection: a store step, a check or a sensor tick that connects takes no lock on a
landing table, so it neither waits for a long COPY nor holds up another reader."""

from __future__ import annotations

from dataclasses import replace

import psycopg2
import pytest

import resources.postgres
from hubs.catalog import Catalog, Column, load_catalog
from hubs.landing.schema import LANDING_PART, landing_fingerprint
from resources import PostgresResource

TABLE = "landing.hub3_origin__tractors"


def fingerprint_of(url: str) -> str | None:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select fingerprint from hubs_meta.schema_state where part = %s", (LANDING_PART,))
            row = cur.fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def columns_of(url: str, table: str) -> set[str]:
    schema, name = table.split(".")
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
                (schema, name),
            )
            return {r[0] for r in cur.fetchall()}
    finally:
        conn.close()


def test_a_connection_after_readiness_runs_no_ddl_and_waits_for_no_landing_table(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres = PostgresResource()
    postgres.ensure_ready()
    assert fingerprint_of(db) == landing_fingerprint(load_catalog())

    # Another session holds a lock the landing DDL (ALTER TABLE, COMMENT) would wait for, as a
    # long load or a VACUUM does; a connection must not queue behind it.
    holder = psycopg2.connect(db)
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=3000")  # a DDL would fail fast, not hang
    try:
        with holder.cursor() as cur:
            cur.execute(f"lock table {TABLE} in share update exclusive mode")
        for _ in range(3):  # a store step, a check step, a sensor tick
            conn = postgres.connect()
            with conn.cursor() as cur:
                cur.execute(f"select count(*) from {TABLE}")
                assert cur.fetchone()[0] > 0
                cur.execute(
                    "select count(*) from pg_locks where pid = pg_backend_pid() and mode = 'AccessExclusiveLock'"
                )
                assert cur.fetchone()[0] == 0
            conn.close()
        postgres.ensure_ready()
    finally:
        holder.close()


def test_a_catalog_change_runs_the_landing_ddl_once(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = load_catalog()
    tractors = catalog.by_model("tractors")
    grown = replace(tractors, columns=(*tractors.columns, Column("paint_color", "text", "", ())))
    changed = Catalog(tuple(grown if e is tractors else e for e in catalog.entities))
    monkeypatch.setattr(resources.postgres, "load_catalog", lambda: changed)

    PostgresResource().connect().close()

    assert "paint_color" in columns_of(db, TABLE)
    assert fingerprint_of(db) == landing_fingerprint(changed) != landing_fingerprint(catalog)


def test_a_database_whose_ddl_never_recorded_a_fingerprint_gets_it(empty_db: str) -> None:
    PostgresResource().connect().close()
    assert fingerprint_of(empty_db) == landing_fingerprint(load_catalog())
    assert "unit_number" in columns_of(empty_db, TABLE)


def test_a_store_step_on_a_database_without_the_engines_tables_makes_them(stores_db: str, hubs_home: object) -> None:
    from dagster import DagsterInstance

    from hub_assets.definitions import defs
    from hub_assets.stores.assets import entity_key

    conn = psycopg2.connect(stores_db)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("drop table if exists hubs_meta.sync_state, hubs_meta.graph_pending_edges, hubs_meta.schema_state")
    lanes = load_catalog().by_model("lanes")  # no relationships: a short step

    result = defs.resolve_job_def("graph_store").execute_in_process(
        asset_selection=[entity_key("graph", lanes)], instance=DagsterInstance.ephemeral(), raise_on_error=False
    )

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    with conn.cursor() as cur:
        cur.execute(
            "select array_agg(table_name::text order by table_name) from information_schema.tables"
            " where table_schema = 'hubs_meta' and table_name in ('sync_state', 'graph_pending_edges', 'schema_state')"
        )
        assert cur.fetchone()[0] == ["graph_pending_edges", "schema_state", "sync_state"]
        cur.execute("select count(*) from hubs_meta.sync_state where store = 'graph' and entity = 'lanes'")
        assert cur.fetchone()[0] == 1
    conn.close()
