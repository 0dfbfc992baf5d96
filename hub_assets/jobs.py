"""Jobs a person, the CLI or a sensor launches."""

from dagster import AssetSelection, define_asset_job

from hub_assets.landing.assets import LANDING_GROUP

landing = AssetSelection.groups(LANDING_GROUP)

# Land what arrived, then rebuild what depends on it: staging, hub tables, checks.
refresh_job = define_asset_job(
    "refresh",
    selection=landing.downstream(),
    description="Land files (the inbox by default), then build and check everything downstream.",
)

land_job = define_asset_job(
    "land",
    selection=landing,
    description="Land files (the inbox by default) without building anything downstream.",
)
