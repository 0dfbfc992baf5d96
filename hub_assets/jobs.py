"""Jobs a person, the CLI or a sensor launches."""

from dagster import AssetSelection, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from hub_assets.dbt.translator import LANDING_GROUP, MIGRATION_GROUP, STAGING_GROUP
from hubs.catalog import Catalog
from hubs.checks import checks_of
from hubs.sync.stores import STORES

landing = AssetSelection.groups(LANDING_GROUP)
# What a refresh builds: everything downstream of landing but the migration's gates.
downstream = landing.downstream().materializable() - AssetSelection.groups(MIGRATION_GROUP)
# A job runs what has code; cache/realtime_keys is written by a sensor, not by a run.

# Land what arrived, then rebuild what depends on it: staging, hub tables, the derived stores
# and every check.
refresh_job = define_asset_job(
    "refresh",
    selection=downstream,
    description="Land files (the inbox by default), then build and check everything downstream.",
)

land_job = define_asset_job(
    "land",
    selection=landing,
    description="Land files (the inbox by default) without building anything downstream.",
)

# One job per derived store: catch up with PostgreSQL, or rebuild it whole (config full: true),
# then run its checks.
store_jobs = {
    kind: define_asset_job(
        f"{kind}_store",
        selection=AssetSelection.groups(kind).materializable(),
        description=f"Bring the {kind} store up to date with PostgreSQL (full: true rebuilds it) and check it.",
    )
    for kind in STORES
}


def audit_job(catalog: Catalog) -> UnresolvedAssetJobDefinition:
    """Every check of the staging and hub tables (the dbt tests) and of the stores, each asking
    about every row: a refresh's store checks ask only about the rows changed since they last
    passed (hubs/checks/scope.py). Builds and syncs nothing."""
    groups = AssetSelection.groups(STAGING_GROUP, *sorted({e.schema for e in catalog.entities}), *STORES)
    return define_asset_job(
        "audit",
        selection=groups - groups.without_checks(),
        config={"ops": {f"check_{kind}": {"config": {"full": True}} for kind in STORES if checks_of(kind)}},
        description="Run every check of the hub tables and the stores over every row (`hubs check`); builds nothing.",
    )
