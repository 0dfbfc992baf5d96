"""Every dbt model an asset, every dbt test an asset check (severity error = blocking)."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from hub_assets.dbt.project import hubs_dbt_project
from hub_assets.dbt.translator import HubsDbtTranslator
from hub_assets.pools import POSTGRES_WRITERS
from resources import PostgresResource


@dbt_assets(
    manifest=hubs_dbt_project.manifest_path,
    project=hubs_dbt_project,
    dagster_dbt_translator=HubsDbtTranslator(),
    pool=POSTGRES_WRITERS,
)
def hub_models(context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource) -> Iterator[Any]:
    postgres.ensure_ready()
    yield from dbt.cli(["build"], context=context).stream()
