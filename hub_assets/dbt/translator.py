"""How dbt nodes appear in Dagster: keys by schema, groups by hub, lineage from landing.

Groups read left to right in the lineage view: `landing` (files as received), `staging` (every
landed row typed against its contract, and the delete pass), one group per hub (its tables and
their history), then one per derived store. The asset graph labels a node with the last part of
its key, so no two assets share it: staging models keep their dbt name (stg_hub3_origin__tractors,
not the landing table's hub3_origin__tractors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dagster import AssetKey, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

LANDING_GROUP = "landing"
LANDING_SOURCE = "landing"  # the dbt source of the landing tables (sources.yml)
# Staging models, and hubs_meta.hub_deletions: the delete pass reads landing and runs before
# every hub table (it was once alone in a group named `platform`).
STAGING_GROUP = "staging"
# The legacy system's tables (dbt sources), its status codes (a seed) and the map_* models that
# turn its rows into landing rows: built and read only by `hubs migrate`.
LEGACY_GROUP = "legacy"
LEGACY_TAG = "legacy"
# The migration's gates (hub_assets/migration): run by the phase jobs only.
MIGRATION_GROUP = "migration"


def _hub_schema(props: Mapping[str, Any]) -> str | None:
    """hub3_origin for hub3_origin.tractors and hub3_origin.tractors_history."""
    return props["schema"] if re.match(r"hub\d_", props["schema"]) else None


class HubsDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_code_references=False))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        props = dbt_resource_props
        if props["resource_type"] == "source":
            if props["source_name"] == LEGACY_GROUP:
                # legacy_drivers, not drivers: the graph view labels a node by its key's last part
                return AssetKey([LEGACY_GROUP, f"legacy_{props['name']}"])
            return AssetKey([props["source_name"], props["name"]])
        if props["name"].startswith("stg_"):
            return AssetKey([STAGING_GROUP, props["name"]])
        return AssetKey([props["schema"], props.get("alias") or props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if LEGACY_TAG in dbt_resource_props.get("tags", ()) or dbt_resource_props.get("source_name") == LEGACY_GROUP:
            return LEGACY_GROUP
        if dbt_resource_props["resource_type"] == "source":
            return LANDING_GROUP
        return _hub_schema(dbt_resource_props) or STAGING_GROUP

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "model" and props["name"] == "hub_deletions":
            # The delete pass reads every landing table (through the catalog, not refs).
            landing = [
                self.get_asset_key(source)
                for source in manifest["sources"].values()
                if source["source_name"] == LANDING_SOURCE
            ]
            spec = spec.merge_attributes(deps=landing)
        return spec
