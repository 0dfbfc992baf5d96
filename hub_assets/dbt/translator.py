"""How dbt nodes appear in Dagster: keys by schema, groups by hub, lineage from landing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dagster import AssetKey, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

LANDING_GROUP = "landing"
PLATFORM_GROUP = "platform"


def _hub_schema(props: Mapping[str, Any]) -> str | None:
    """hub3_origin for hub3_origin.tractors and for staging's stg_hub3_origin__tractors."""
    if re.match(r"hub\d_", props["schema"]):
        return props["schema"]
    if props["name"].startswith("stg_"):
        return props["name"][4:].split("__", 1)[0]
    return None


class HubsDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_code_references=False))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        props = dbt_resource_props
        if props["resource_type"] == "source":
            return AssetKey([props["source_name"], props["name"]])
        if props["name"].startswith("stg_"):
            return AssetKey(["staging", props["name"][4:]])
        return AssetKey([props["schema"], props.get("alias") or props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return LANDING_GROUP
        return _hub_schema(dbt_resource_props) or PLATFORM_GROUP

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "model" and props["name"] == "hub_deletions":
            # The delete pass reads every landing table (through the catalog, not refs).
            landing = [
                self.get_asset_key(source)
                for source in manifest["sources"].values()
                if source["source_name"] == "landing"
            ]
            spec = spec.merge_attributes(deps=landing)
        return spec
