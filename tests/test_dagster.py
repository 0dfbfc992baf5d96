"""The Dagster asset graph: lineage from landing to hub tables, dbt tests as checks, runs that
land in the instance under HUBS_HOME, and the inbox sensor."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
    evaluate_automation_conditions,
)

from hub_assets.dbt.order import UNCHANGED_KEY
from hub_assets.definitions import defs
from hub_assets.instance import hubs_instance
from hub_assets.landing.sensors import inbox_sensor
from hub_assets.runner import run_job
from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.sync.stores import STORES, opened
from tests.conftest import empty_stores
from tests.helpers import execute, scalar


def specs() -> dict[AssetKey, object]:
    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


def test_every_entity_has_its_landing_staging_and_hub_asset_grouped_by_hub() -> None:
    by_key = specs()
    for entity in load_catalog().entities:
        landing = AssetKey(["landing", entity.landing_table])
        staging = AssetKey(["staging", f"stg_{entity.landing_table}"])  # its dbt name
        hub = AssetKey([entity.schema, entity.table])
        assert by_key[landing].group_name == "landing"
        assert by_key[staging].group_name == "staging"
        assert by_key[hub].group_name == entity.schema
        assert landing in {dep.asset_key for dep in by_key[staging].deps}
        assert staging in {dep.asset_key for dep in by_key[hub].deps}


def test_delete_pass_runs_after_every_landing_table() -> None:
    deletions = specs()[AssetKey(["hubs_meta", "hub_deletions"])]
    assert deletions.group_name == "staging"
    landing = {AssetKey(["landing", e.landing_table]) for e in load_catalog().entities}
    assert landing <= {dep.asset_key for dep in deletions.deps}


def test_dbt_tests_are_checks_and_error_severity_blocks() -> None:
    graph = defs.resolve_asset_graph()
    checks = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert checks["q3_1_driver_assignments"].asset_key == AssetKey(["hub3_origin", "driver_assignments"])
    assert checks["q3_1_driver_assignments"].blocking
    assert not checks["q3_3_fuel_transactions"].blocking  # warn = alert only
    assert checks["landing_reconciled_stg_hub3_origin__tractors_"].blocking
    assert checks["no_refused_files"].asset_key == AssetKey(["landing", "_files"])


def test_the_audit_job_runs_every_check_over_every_row_and_builds_nothing() -> None:
    job = defs.resolve_job_def("audit")
    assert not job.asset_layer.selected_asset_keys
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys if job.asset_layer.has(key)}
    assert {
        "X1_postgres_graph_parity",
        "q3_1_driver_assignments",
        "landing_reconciled_stg_hub3_origin__tractors_",
    } <= checks
    store_checks = {f"check_{kind}" for kind in STORES}
    assert {node.name for node in job.nodes} == {"hub_models", *store_checks}
    assert job.run_config == {"ops": {name: {"config": {"full": True}} for name in store_checks}}


def test_refresh_job_lands_builds_checks_and_is_recorded(
    empty_db: str, generated: tuple[Path, dict], tmp_path: Path
) -> None:
    folder, expected = generated
    empty_stores()  # a new database: its stores start empty too
    outcome = run_job("refresh", str(folder), quiet=True)
    assert outcome.success, outcome.failures
    assert not outcome.checks_failed
    assert len(outcome.checks_passed) >= 13
    for entity, counts in expected.items():
        quarantined = scalar(empty_db, "select count(*) from quarantine.rows where entity = %s", (entity,))
        assert quarantined == counts["quarantined"], entity
    # The run is in the instance `dagster dev` reads (a new handle on the same storage sees it).
    with DagsterInstance.from_ref(hubs_instance().get_ref()) as instance:
        record = instance.get_run_by_id(outcome.run_id)
        assert record is not None and record.is_success
        # Recorded under the code location `dagster dev` loads, as a run launched there is.
        assert record.remote_job_origin.repository_origin.get_label() == "__repository__@hubs"
        assert record.job_code_origin.repository_origin.code_pointer.module == "hub_assets.definitions"
        assert_the_ui_and_the_read_api_agree_on_freshness(instance)
    assert (hubs_settings.load().dagster_dir / "storage").is_dir()
    then_a_refresh_builds_only_what_landed(empty_db, folder, tmp_path)


def _dbt_materializations(run_id: str) -> tuple[set[str], set[str]]:
    """The hub models a run's dbt step built, and those it reported unchanged (not built)."""
    built, unchanged = set(), set()
    with DagsterInstance.from_ref(hubs_instance().get_ref()) as instance:
        for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
            event = record.event_log_entry.dagster_event
            if event.step_key != "hub_models":
                continue
            name = event.asset_key.path[-1]
            (unchanged if UNCHANGED_KEY in event.event_specific_data.materialization.metadata else built).add(name)
    return built, unchanged


def then_a_refresh_builds_only_what_landed(url: str, folder: Path, tmp_path: Path) -> None:
    """One changed tractor file: dbt builds the delete pass, tractors' staging, table and history
    (and their tests), every other model is reported unchanged, and the stores still get the
    change. Then nothing new: dbt does not run at all."""
    lines = (folder / "hub3_origin.tractors.csv").read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    unit = row[header.index("unit_number")]
    row[header.index("make")] = "Incremental Motors"
    # a new version, a day after the current one
    current = scalar(
        url, "select valid_from + interval '1 day' from hub3_origin.tractors where unit_number = %s", (unit,)
    )
    row[header.index("valid_from")] = current.isoformat()
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "hub3_origin.tractors.csv").write_text(",".join(header) + "\n" + ",".join(row) + "\n")

    outcome = run_job("refresh", str(changed), quiet=True)
    assert outcome.success, outcome.failures
    assert not outcome.checks_failed
    built, unchanged = _dbt_materializations(outcome.run_id)
    assert built == {"hub_deletions", "stg_hub3_origin__tractors", "tractors", "tractors_history"}
    assert {"goals", "loads", "stg_hub2_openhaul__loads", "drivers_history"} <= unchanged
    assert not built & unchanged
    assert any(":q3_2_" in name for name in outcome.checks_passed)  # a validation reading tractors ran
    assert not any(":q2_1_" in name for name in outcome.checks_passed)  # one reading only loads did not
    assert scalar(url, "select make from hub3_origin.tractors where unit_number = %s", (unit,)) == "Incremental Motors"
    with opened("graph", hubs_settings.load(), load_catalog()) as graph:
        [[make]] = graph.dialect.run("MATCH (t:Tractor {key: $k}) RETURN t.make", {"k": unit})
    assert make == "Incremental Motors"

    nothing = run_job("refresh", str(changed), quiet=True)  # the same file again: already landed
    assert nothing.success, nothing.failures
    built, unchanged = _dbt_materializations(nothing.run_id)
    assert not built and {"tractors", "goals", "hub_deletions"} <= unchanged

    # An edited model, test or macro (here: a project built whole before this one) builds everything once.
    execute(url, "update hubs_meta.schema_state set fingerprint = 'an older project' where part = 'dbt_project'")
    edited = run_job("refresh", str(changed), quiet=True)
    assert edited.success, edited.failures
    built, unchanged = _dbt_materializations(edited.run_id)
    assert {"goals", "loads", "tractors", "hub_deletions"} <= built and not unchanged
    assert not _dbt_materializations(run_job("refresh", str(changed), quiet=True).run_id)[0]  # and then nothing


def assert_the_ui_and_the_read_api_agree_on_freshness(instance: DagsterInstance) -> None:
    """Each store asset's last materialization shows the lag the read API's provenance reports."""
    from hub_assets.stores.assets import store_key
    from hubs.recall.memory import Memory

    with Memory(freshness_seconds=0) as memory:
        for kind in STORES:
            event = instance.get_latest_materialization_event(store_key(kind))
            assert event is not None and event.asset_materialization is not None, kind
            shown = event.asset_materialization.metadata
            lag = memory.freshness(kind)
            assert shown["freshness: behind"].value == lag.changed + lag.deleted == 0, kind
            assert shown["freshness"].value == lag.description, kind
            synced = datetime.fromtimestamp(shown["freshness: last_sync"].value, UTC)
            assert lag.last_sync and abs((synced - datetime.fromisoformat(lag.last_sync)).total_seconds()) < 0.01


def test_refused_file_fails_the_landing_check_but_not_the_run(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "hub3_origin.unicorns.csv").write_text("horn\n1\n")
    outcome = run_job("land", str(tmp_path), quiet=True)
    assert outcome.success
    assert outcome.checks_failed == ["landing/_files:no_refused_files"]


def test_inbox_sensor_requests_a_refresh_for_new_files_once(generated: tuple[Path, dict]) -> None:
    inbox = hubs_settings.load().inbox_dir
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    assert isinstance(inbox_sensor(build_sensor_context()), SkipReason)
    shutil.copy(generated[0] / "hub3_origin.tractors.csv", inbox)
    context = build_sensor_context()
    request = inbox_sensor(context)
    assert isinstance(request, RunRequest)
    assert request.run_config["ops"]["land_files"]["config"]["path"] == str(inbox)
    assert isinstance(inbox_sensor(build_sensor_context(cursor=context.cursor)), SkipReason)
    shutil.copy(generated[0] / "hub3_origin.drivers.csv", inbox)
    assert isinstance(inbox_sensor(build_sensor_context(cursor=context.cursor)), RunRequest)


def test_run_storage_moves_to_postgres_when_configured(
    empty_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBS_DAGSTER_POSTGRES_URL", empty_db)
    outcome = run_job("land", str(tmp_path), quiet=True)  # an empty folder: a run with nothing to land
    assert outcome.success
    assert scalar(empty_db, "select count(*) from runs where run_id = %s", (outcome.run_id,)) == 1


def test_every_store_has_an_asset_per_entity_it_holds_fed_by_the_hub_table() -> None:
    from hub_assets.stores.assets import RETRY, entity_key, hub_key, store_key
    from hubs.sync.stores import STORES, holds

    by_key = specs()
    catalog = load_catalog()
    for kind in STORES:
        held = [e for e in catalog.entities if holds(kind, e)]
        assert held, kind
        for entity in held:
            spec = by_key[entity_key(kind, entity)]
            assert spec.group_name == kind
            assert hub_key(entity) in {dep.asset_key for dep in spec.deps}
        whole = by_key[store_key(kind)]
        assert {dep.asset_key for dep in whole.deps} == {entity_key(kind, e) for e in held}
        assert defs.get_assets_def(store_key(kind)).op.retry_policy == RETRY
    graph_specs = [key for key in by_key if key.path[0] == "graph" and len(key.path) == 3]
    assert len(graph_specs) == len(catalog.entities)


def test_store_checks_guard_their_store_and_the_temporal_ones_read_the_graph_too() -> None:
    graph = defs.resolve_asset_graph()
    checks = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    expected = {f"G{i}" for i in range(1, 11)} | {"X1", "X2", "X3", "X4"} | {f"T{i}" for i in range(1, 6)}
    found = {name.split("_")[0]: spec for name, spec in checks.items() if name.split("_")[0] in expected}
    assert set(found) == expected
    assert found["G1"].asset_key == AssetKey(["graph", "replica"])
    assert found["X2"].asset_key == AssetKey(["vectors", "collections"])
    assert found["X3"].asset_key == AssetKey(["cache", "keys"])
    assert found["T1"].asset_key == AssetKey(["timeline", "edges"])
    assert AssetKey(["graph", "replica"]) in {dep.asset_key for dep in found["T1"].additional_deps}


def _materialize(instance: DagsterInstance, keys: list[AssetKey]) -> None:
    for key in keys:
        instance.report_runless_asset_event(AssetMaterialization(key))


def test_stores_follow_a_changed_hub_table_once_and_only_its_entities() -> None:
    """The automation sensor's evaluation: a store in step with its hub tables is left alone; a
    changed hub table brings the store entities reading it (and each whole store) along, once."""
    from hub_assets.stores.assets import REALTIME_KEY, entity_key, hub_key, store_key
    from hubs.sync.stores import STORES, holds

    catalog = load_catalog()
    tractors = next(e for e in catalog.entities if e.table == "tractors")
    stores = defs.resolve_asset_graph().get_all_asset_keys() - {REALTIME_KEY}
    stores = {key for key in stores if key.path[0] in STORES}
    with DagsterInstance.ephemeral() as instance:
        _materialize(instance, [hub_key(e) for e in catalog.entities] + [hub_key(tractors, "_history")])
        _materialize(instance, sorted(stores, key=lambda k: k.path))
        result = evaluate_automation_conditions(defs, instance)
        assert result.total_requested == 0

        _materialize(instance, [hub_key(tractors)])
        result = evaluate_automation_conditions(defs, instance, cursor=result.cursor)
        expected = {entity_key(kind, tractors) for kind in STORES if holds(kind, tractors)}
        expected |= {store_key(kind) for kind in STORES if holds(kind, tractors)}
        requested = {key for key in stores | {REALTIME_KEY} if result.get_num_requested(key)}
        assert requested == expected
        assert {key.path[0] for key in expected} == {"graph", "cache", "timeline"}  # not in vectors

        # Requested once: the next evaluation waits for that run instead of asking again.
        assert evaluate_automation_conditions(defs, instance, cursor=result.cursor).total_requested == 0


def test_store_freshness_policies_and_the_automation_sensor_are_defined() -> None:
    from hub_assets.stores.assets import REALTIME_KEY, realtime_entities

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key == REALTIME_KEY:
            assert node.freshness_policy.fail_window.to_timedelta().total_seconds() == 60
            assert not node.is_executable and node.automation_condition is None
        elif key.path[0] in ("graph", "cache", "vectors", "timeline"):
            assert node.freshness_policy.fail_window.to_timedelta().total_seconds() == 24 * 3600, key
            assert node.automation_condition.get_label() == "eager", key
        else:
            assert node.automation_condition is None, key
    assert {e.table for e in realtime_entities(load_catalog())} == {"tractors", "loads", "driver_assignments"}
    sensors = {s.name: s for s in defs.get_repository_def().sensor_defs}
    assert sensors["stores_follow_hubs"].default_status == DefaultSensorStatus.RUNNING
    assert "default_automation_condition_sensor" not in sensors  # ours targets every automated asset


def test_the_realtime_keeper_records_the_keys_it_rewrote(stores_db: str) -> None:
    from hub_assets.stores.assets import REALTIME_KEY
    from hub_assets.stores.sensors import realtime_cache_keeper
    from resources import PostgresResource

    result = realtime_cache_keeper(build_sensor_context(resources={"postgres": PostgresResource()}))
    assert isinstance(result, SensorResult), result
    (event,) = result.asset_events
    assert event.asset_key == REALTIME_KEY
    assert event.metadata["keys"].value > 0
