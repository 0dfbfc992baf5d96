"""Migrating a generated legacy system through the five gated phases (issue 11): the hubs equal
the world the legacy system was made from, a row the mapping cannot map is quarantined with its
reason, a phase whose gate finds a problem is no-go and the next phase refuses to start, and
extraction after the first copy is incremental (a sweep finds what a stale updated_at hides)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from hub_assets.migration.operations import APPROVE_JOB, ROLLBACK_JOB
from hub_assets.runner import RunOutcome, run_job
from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.generate import build_rows
from hubs.generate.legacy import Legacy, build_legacy, write_legacy
from hubs.migrate.phases import MAPPING_JOB, PHASES, PhaseBlocked, latest, require_open, roll_back
from hubs.sync import generations
from tests.conftest import admin, empty_stores, private_database, use_graph_server
from tests.helpers import query

SCALE, SEED = 0.01, 11
BROKEN_STATUS = "ZZ"

#: hub columns a correct migration carries over from the world, per entity (what the mapping maps)
CARRIED = {
    "hub5_financial.legal_entities": ("legal_name", "ein", "entity_type", "formation_state", "status"),
    "hub2_openhaul.carriers": ("legal_name", "mc_docket", "onboarding_status"),
    "hub3_origin.tractors": ("vin", "make", "model", "model_year", "status", "owner_entity"),
    "hub3_origin.drivers": (
        "first_name",
        "last_name",
        "cdl_number",
        "cdl_state",
        "cdl_class",
        "cdl_expires_on",
        "hire_date",
        "termination_date",
        "mobile_phone",
        "status",
    ),
    "hub2_openhaul.customers": ("status", "payment_terms_days", "credit_limit"),
    "hub3_origin.maintenance_orders": (
        "unit_number",
        "category",
        "status",
        "opened_at",
        "closed_at",
        "complaint",
        "cause",
        "correction",
        "labor_cost",
    ),
    "hub2_openhaul.loads": ("customer_code", "carrier_usdot", "status", "equipment", "customer_rate", "delivered_at"),
    "hub3_origin.trips": (
        "unit_number",
        "driver_code",
        "status",
        "origin_city",
        "origin_state",
        "dest_city",
        "dest_state",
        "revenue",
        "delivered_at",
    ),
}


def phase_one(sweep: bool = False) -> RunOutcome:
    """Phase 1 as `hubs migrate run 1` runs it: the mapping job, then the phase's job."""
    mapping = run_job(MAPPING_JOB, quiet=True)
    assert mapping.success, mapping.failures
    return run_job(
        PHASES[0].job, quiet=True, ops={"land_files": {"config": {"legacy": "sweep" if sweep else "changes"}}}
    )


def legacy_sql(url: str, statement: str, params: tuple = ()) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement, params)
    finally:
        conn.close()


def gate(url: str, number: int) -> Any:
    conn = psycopg2.connect(url)
    try:
        return latest(conn, number)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def world() -> dict[str, list[dict[str, Any]]]:
    return build_rows(SCALE, SEED)


@pytest.fixture(scope="module")
def legacy(world: dict[str, list[dict[str, Any]]]) -> Legacy:
    made = build_legacy(world, SEED)
    brokerage = next(r for r in made.rows["loads"] if r["kind"] == "B" and not r["deleted"])
    brokerage["status_cd"] = BROKEN_STATUS  # a code the mapping does not know
    return made


@pytest.fixture(scope="module")
def migrated(postgres_server: str, legacy: Legacy) -> Iterator[tuple[str, str]]:
    """Phase 1 run once into a database of the module's (tests copy it): (hubs url, legacy url)."""
    legacy_name = f"legacy_m{os.getpid()}"
    admin(postgres_server, f"create database {legacy_name}")
    legacy_url = f"{postgres_server}/{legacy_name}"
    conn = psycopg2.connect(legacy_url)
    try:
        write_legacy(conn, legacy)
    finally:
        conn.close()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HUBS_LEGACY_URL", legacy_url)
        with private_database(postgres_server, patch, "migrated") as url:
            blocked(url, 2, "run `hubs migrate run 1` first")
            outcome = phase_one()
            assert outcome.success, outcome.failures
            yield url, legacy_url
    admin(postgres_server, f"drop database if exists {legacy_name} with (force)")


@pytest.fixture
def copied(postgres_server: str, migrated: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private copy of the migrated hubs (the legacy system stays the module's)."""
    monkeypatch.setenv("HUBS_LEGACY_URL", migrated[1])
    template = migrated[0].rsplit("/", 1)[1]
    with private_database(postgres_server, monkeypatch, "mcopy", template) as url:
        yield url


@pytest.fixture
def legacy_copy(
    postgres_server: str, migrated: tuple[str, str], copied: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A private copy of the module's legacy system (a test changes it) beside the copy of the
    migrated hubs; HUBS_LEGACY_URL points at it."""
    name = f"legacy_c{os.getpid()}"
    admin(postgres_server, f"create database {name} template {migrated[1].rsplit('/', 1)[1]}")
    monkeypatch.setenv("HUBS_LEGACY_URL", f"{postgres_server}/{name}")
    try:
        yield f"{postgres_server}/{name}"
    finally:
        admin(postgres_server, f"drop database if exists {name} with (force)")


def blocked(url: str, number: int, match: str) -> None:
    """Phase `number` refuses to start, saying `match`."""
    conn = psycopg2.connect(url)
    try:
        with pytest.raises(PhaseBlocked, match=match):
            require_open(conn, number)
    finally:
        conn.close()


def truth(world: dict[str, list[dict[str, Any]]], legacy: Legacy) -> dict[str, dict[str, dict[str, Any]]]:
    """entity -> key -> the world's row, for every legacy row a hub row must come from."""
    keys = {"hub5_financial.legal_entities": "entity_code", "hub2_openhaul.carriers": "usdot_number"}
    wanted: dict[str, dict[str, dict[str, Any]]] = {}
    for found in legacy.truth.values():
        if found is None:
            continue
        stem, key = found
        wanted.setdefault(stem, {})[key] = {}
    for stem, rows in wanted.items():
        entity = load_catalog().by_file_stem(stem)
        key_column = keys.get(stem, entity.primary_key[0])
        for row in world[stem]:  # the last version of a key is what the legacy system holds
            if str(row[key_column]) in rows:
                rows[str(row[key_column])] = row
    return wanted


def differences(url: str, stem: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    """Hub rows whose carried columns differ from the world's (compared as the hub's types)."""
    entity = load_catalog().by_file_stem(stem)
    types = {c.name: c.data_type for c in entity.columns}
    key = entity.primary_key[0]
    found = []
    for column in CARRIED[stem]:
        values = [(k, None if row.get(column) in ("", None) else str(row[column])) for k, row in rows.items()]
        wrong = query(
            url,
            f"select w.k from unnest(%s::text[], %s::text[]) as w(k, v) join {stem} as h on h.{key}::text = w.k"
            f" where w.v::{types[column]} is distinct from h.{column}",
            ([k for k, _ in values], [v for _, v in values]),
        )
        found += [f"{stem} {k}: {column}" for (k,) in wrong]
    return found


def test_phase_one_brings_the_legacy_system_into_the_hubs_as_the_world_has_it(
    migrated: tuple[str, str], world: dict[str, list[dict[str, Any]]], legacy: Legacy
) -> None:
    url = migrated[0]
    decided = gate(url, 1)
    assert decided is not None and decided.go, decided and decided.reasons
    entities = decided.evidence["entities"]
    assert set(entities) == set(CARRIED) | {"hub4_contacts.parties"}
    assert sum(e["quarantined"] for e in entities.values()) >= 1
    assert all(e["unaccounted"] == 0 and e["mismatched"] == 0 for e in entities.values())
    assert entities["hub2_openhaul.customers"]["merged"] >= 1, "a customer entered twice became one"

    quarantined = query(url, "select entity, reasons from quarantine.rows")
    broken = [reasons for entity, reasons in quarantined if any(BROKEN_STATUS in r for r in reasons)]
    assert len(broken) == 1 and "is not a known load status" in broken[0][0]
    # The only other rows refused are children of rows the legacy system had soft-deleted.
    others = [reasons for _, reasons in quarantined if not any(BROKEN_STATUS in r for r in reasons)]
    assert all(r.startswith("fk:") for reasons in others for r in reasons), others

    quarantined_keys = {
        (entity, key)
        for entity, key in query(
            url,
            "select q.entity, q.raw ->> c.key_column from quarantine.rows as q"
            " join (values ('hub2_openhaul.loads', 'load_number'), ('hub3_origin.trips', 'trip_number'),"
            " ('hub3_origin.maintenance_orders', 'ro_number')) as c(entity, key_column) on c.entity = q.entity",
        )
    }
    problems = []
    for stem, rows in truth(world, legacy).items():
        if stem not in CARRIED:
            continue
        entity = load_catalog().by_file_stem(stem)
        key = entity.primary_key[0]
        in_hub = {str(k) for (k,) in query(url, f"select {key}::text from {stem}")}
        expected = {k for k in rows if (stem, k) not in quarantined_keys}
        assert in_hub == expected, stem
        problems += differences(url, stem, {k: rows[k] for k in expected})
    assert problems == []
    names = dict(
        query(
            url,
            "select c.customer_code, p.display_name from hub2_openhaul.customers as c"
            " join hub4_contacts.parties as p using (party_id)",
        )
    )
    parties = {p["party_id"]: p["display_name"] for p in world["hub4_contacts.parties"]}
    assert names == {c["customer_code"]: parties[c["party_id"]] for c in world["hub2_openhaul.customers"]}


@pytest.fixture(params=["falkordb", "neo4j"])
def store_server(request: pytest.FixtureRequest, copied: str) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        use_graph_server(request, patch)
        empty_stores()
        yield request.param


def run_store_phases(url: str) -> dict[str, int]:
    """Phases 2-5, each to a go; the generation each published."""
    published = {}
    for phase in PHASES[1:]:
        outcome = run_job(phase.job, quiet=True)
        assert outcome.success, (phase.job, outcome.failures)
        decided = gate(url, phase.number)
        assert decided is not None and decided.go, (phase.job, decided and decided.reasons)
        assert decided.run_id == outcome.run_id
        assert decided.evidence["checks"], "the gate says what it checked"
        published[phase.store] = decided.evidence["generation"]
    return published


def make_of(unit: str) -> list:
    """The tractor's make as the published graph generation answers it."""
    from hubs import settings as hubs_settings
    from hubs.sync.stores import opened

    with opened("graph", hubs_settings.load(), load_catalog()) as store:
        return store.dialect.run("MATCH (t:Tractor {key: $unit}) RETURN t.make", {"unit": unit})


def land_new_make(url: str, unit: str, make: str) -> None:
    """A new version of one tractor, landed and built as a refresh would."""
    from hubs import settings as hubs_settings
    from hubs.landing.loader import load_paths
    from tests.helpers import build

    columns = ("unit_number", "vin", "make", "model", "model_year", "status", "owner_entity")
    [row] = query(url, f"select {', '.join(columns)} from hub3_origin.tractors where unit_number = %s", (unit,))
    folder = Path(tempfile.mkdtemp())
    with (folder / "hub3_origin.tractors.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, "valid_from"])
        writer.writerow([*row[:2], make, *row[3:], "2030-01-01T00:00:00+00:00"])
    assert [r.status for r in load_paths(hubs_settings.load(), load_catalog(), [folder])] == ["loaded"]
    built = build(url)
    assert built.returncode == 0, built.stdout[-3000:]


def test_the_store_phases_gate_and_publish_generations_and_each_rolls_back_in_place(
    copied: str, store_server: str
) -> None:
    first = run_store_phases(copied)
    assert gate(copied, 3).evidence["checks"]["X2_postgres_qdrant_parity"]["verdict"] == "passed", (
        "the legacy repair orders' text was embedded"
    )
    unit = query(copied, "select min(unit_number) from hub3_origin.tractors")[0][0]
    before = make_of(unit)
    land_new_make(copied, unit, "Rolled Back Motors")
    second = run_store_phases(copied)
    assert all(second[store] > first[store] for store in first), (first, second)
    assert make_of(unit) == [["Rolled Back Motors"]]

    conn = psycopg2.connect(copied)
    try:
        for phase in PHASES[1:]:
            done = roll_back(conn, hubs_settings.load(), phase.number)
            assert done.generation == first[phase.store] and done.seconds < 5, done
            assert gate(copied, phase.number).decision == "rolled-back"
        with pytest.raises(PhaseBlocked, match="phase 2 was rolled back"):
            require_open(conn, 3)
        assert make_of(unit) == before, "the graph answers as it did before the phase ran again"

        # Phase 1 returns the record to before the migration (nothing), and so every store that
        # read it goes back to the generation it had then.
        undone = roll_back(conn, hubs_settings.load(), 1)
        assert undone.generation == 0 and undone.seconds < 5, undone
        assert {f.store: f.generation for f in undone.followed} == {p.store: 0 for p in PHASES[1:]}, undone
        assert undone.stale == ()
    finally:
        conn.close()
    assert query(copied, "select count(*) from hub3_origin.tractors") == [(0,)]
    assert make_of(unit) == [], "the graph no longer holds what the record no longer holds"


def test_a_phase_written_wrong_is_no_go_and_the_next_phase_refuses_to_start(
    copied: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubs.sync.vectors import VectorStore, point_id

    empty_stores()
    assert run_job(PHASES[1].job, quiet=True).success
    right = VectorStore.upsert

    def written_wrong(store: VectorStore, entity: Any, changes: list) -> None:
        right(store, entity, changes)
        written = store.client.retrieve(store.collection(entity), [point_id(entity, c.key) for c in changes])
        store.client.set_payload(
            store.collection(entity), payload={"content_hash": "written wrong"}, points=[p.id for p in written]
        )

    conn = psycopg2.connect(copied)
    readers_before = generations.published(conn, "vectors")
    conn.commit()  # a reader's snapshot must not hold up the phase's registry
    monkeypatch.setattr(VectorStore, "upsert", written_wrong)
    outcome = run_job(PHASES[2].job, quiet=True)
    decided = gate(copied, 3)
    assert not decided.go and any("content hash differs" in r for r in decided.reasons), decided.reasons
    assert not outcome.success, "the gate's blocking check fails the run"
    wrong = decided.evidence["generation"]
    assert [g.status for g in generations.listed(conn, "vectors") if g.generation == wrong] == ["failed"]
    assert generations.published(conn, "vectors") == readers_before, (
        "a generation that failed its gate is never published"
    )
    conn.close()
    refused = run_job(PHASES[3].job, quiet=True)
    assert not refused.success and any("phase 3's gate is no-go" in f for f in refused.failures), refused.failures
    assert gate(copied, 4) is None, "the refused phase wrote nothing and decided nothing"

    monkeypatch.setattr(VectorStore, "upsert", right)
    mended = run_job(PHASES[2].job, quiet=True)
    assert mended.success and gate(copied, 3).go
    assert gate(copied, 3).evidence["generation"] > wrong


def test_extraction_after_the_first_copy_is_incremental_and_a_sweep_finds_undated_changes(
    copied: str, legacy_copy: str
) -> None:
    url = legacy_copy
    truck, unit = query(url, "select truck_id, unit_no from trucks where not deleted order by truck_id limit 1")[0]
    legacy_sql(url, "update trucks set make = 'Legacy Motors', updated_at = now() where truck_id = %s", (truck,))
    driver = query(url, "select driver_id from drivers where not deleted order by driver_id limit 1")[0][0]

    landed_before = query(copied, "select count(*) from landing.hub3_origin__tractors")[0][0]
    number = unit.strip().lstrip("#").lower().removeprefix("unit").strip(" #").upper()
    make = f"select make from hub3_origin.tractors where unit_number = '{number}'"
    make_before = query(copied, make)
    assert make_before != [("Legacy Motors",)]
    assert phase_one().success and gate(copied, 1).go
    assert query(copied, "select count(*) from landing.hub3_origin__tractors")[0][0] == landed_before + 1, (
        "only the changed truck landed again"
    )
    assert query(copied, make) == [("Legacy Motors",)]

    # rolled back as the Dagster UI does it (the job migrate_rollback; `hubs migrate rollback 1`)
    rolled = run_job(ROLLBACK_JOB, quiet=True, ops={"roll_back_phase": {"config": {"phase": 1}}})
    assert rolled.success, rolled.failures
    undone = gate(copied, 1)
    assert undone.decision == "rolled-back" and undone.evidence["rollback_seconds"] < 5, undone
    blocked(copied, 2, "phase 1 was rolled back")
    assert query(copied, make) == make_before, "the rollback restored the record as it was"
    assert query(copied, "select count(*) from landing.hub3_origin__tractors")[0][0] == landed_before

    # A change the old software did not date: updated_at stays as it was.
    legacy_sql(url, "update drivers set license_st = 'AK' where driver_id = %s", (driver,))
    outcome = phase_one()
    decided = gate(copied, 1)
    assert not decided.go and any("hub3_origin.drivers: 1 row(s) differ" in r for r in decided.reasons)
    assert not outcome.success
    assert decided.evidence["restored"] == undone.evidence["generation"], decided.evidence
    assert query(copied, make) == make_before, "a no-go is never published: the record is restored"

    assert phase_one(sweep=True).success
    assert gate(copied, 1).go
    assert query(copied, make) == [("Legacy Motors",)]


def hubs_cli(*args: str, failpoint: str | None = None) -> subprocess.CompletedProcess:
    """`hubs ...` in a subprocess, as an operator runs it (the environment is the test's)."""
    env = {k: v for k, v in os.environ.items() if k != "HUBS_FAILPOINT"}
    if failpoint:
        env["HUBS_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "hubs.cli", *args], env=env, capture_output=True, text=True, timeout=900
    )


def test_a_phase_one_killed_mid_run_is_refused_until_rolled_back_and_then_runs_again(
    copied: str, legacy_copy: str
) -> None:
    """kill -9 of `hubs migrate run 1` after the extraction landed (before the hubs were built):
    the record is half-written; the next run refuses, naming the way out, and `hubs migrate
    rollback 1` restores the record as it was before the killed run."""
    url = legacy_copy
    legacy_sql(url, "update trucks set make = 'Killed Motors', updated_at = now() where not deleted")
    landed = "select count(*) from landing.hub3_origin__tractors"
    landed_before = query(copied, landed)[0][0]

    killed = hubs_cli("migrate", "run", "1", failpoint=f"land.file@{len(CARRIED) + 1}")
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout[-2000:], killed.stderr[-2000:])
    assert query(copied, landed)[0][0] > landed_before, "the killed run had landed the changed trucks"

    refused = hubs_cli("migrate", "run", "1")
    assert refused.returncode == 1 and "hubs migrate rollback 1" in refused.stdout + refused.stderr, refused.stdout[
        -2000:
    ]
    undone = hubs_cli("migrate", "rollback", "1")
    assert undone.returncode == 0 and "phase 1 rolled back: the postgres store is generation 1" in undone.stdout, (
        undone.stdout + undone.stderr
    )
    assert query(copied, landed)[0][0] == landed_before, "the killed run's landing is undone"
    statuses = [s for (s,) in query(copied, "select status from hubs_meta.generations where store = 'postgres'")]
    assert "building" not in statuses and statuses.count("failed") >= 1, statuses

    assert phase_one().success and gate(copied, 1).go
    assert query(copied, "select count(*) from hub3_origin.tractors where make <> 'Killed Motors'") == [(0,)]


def test_a_phase_whose_go_needs_approval_opens_the_next_only_when_approved(
    copied: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBS_MIGRATION_APPROVALS", "1")
    conn = psycopg2.connect(copied)
    try:
        with pytest.raises(PhaseBlocked, match="needs an operator's approval"):
            require_open(conn, 2)
        conn.commit()
        refused = run_job(APPROVE_JOB, quiet=True, ops={"approve_phase": {"config": {"phase": 2, "by": "ops"}}})
        assert not refused.success and any("phase 2's gate has not run" in f for f in refused.failures)
        # approved as the Dagster UI does it (the job migrate_approve; `hubs migrate approve 1`)
        approved = run_job(APPROVE_JOB, quiet=True, ops={"approve_phase": {"config": {"phase": 1, "by": "dispatcher"}}})
        assert approved.success, approved.failures
        require_open(conn, 2)
    finally:
        conn.close()
    assert gate(copied, 1).approved_by == "dispatcher"
