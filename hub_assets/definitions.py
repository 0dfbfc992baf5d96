"""The code location `dagster dev` loads from the repo root (workspace.yaml)."""

from __future__ import annotations

from dagster import Definitions
from dagster._loggers import colored_console_logger

from hub_assets.dbt.assets import hub_models, legacy_models
from hub_assets.jobs import audit_job, land_job, refresh_job, store_jobs
from hub_assets.landing.assets import build_landing_assets
from hub_assets.landing.sensors import inbox_sensor
from hub_assets.migration.assets import build_gates, phase_jobs
from hub_assets.migration.operations import approve_job, rollback_job
from hub_assets.progress import progress_logger
from hub_assets.stores.assets import build_all_store_assets, follow_hubs_sensor, realtime_keys_spec
from hub_assets.stores.checks import build_all_store_checks
from hub_assets.stores.sensors import realtime_cache_keeper
from hubs.catalog import load_catalog
from resources import PostgresResource, StoreResource, dbt_resource

catalog = load_catalog()

defs = Definitions(
    assets=[
        build_landing_assets(catalog),
        hub_models,
        legacy_models,
        *build_all_store_assets(catalog),
        realtime_keys_spec(catalog),
        *build_gates(catalog),
    ],
    asset_checks=build_all_store_checks(catalog),
    jobs=[
        refresh_job,
        land_job,
        audit_job(catalog),
        *store_jobs.values(),
        *phase_jobs(catalog),
        approve_job,
        rollback_job,
    ],
    loggers={"console": colored_console_logger, "progress": progress_logger},
    sensors=[inbox_sensor, realtime_cache_keeper, follow_hubs_sensor()],
    resources={
        "postgres": PostgresResource(),
        "dbt": dbt_resource(),
        "cache": StoreResource(kind="cache"),
        "graph": StoreResource(kind="graph"),
        "vectors": StoreResource(kind="vectors"),
    },
)
