"""Dagster resources: PostgreSQL (the system of record), dbt, and one per derived store. Each
reads its URL from the environment and falls back to the embedded server (started on demand)
only when the variable is unset."""

from resources.dbt import dbt_resource
from resources.postgres import PostgresResource
from resources.stores import StoreResource

__all__ = ["PostgresResource", "StoreResource", "dbt_resource"]
