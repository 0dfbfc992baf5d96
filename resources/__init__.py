"""One Dagster resource per store. Each reads its URL from the environment and falls back to
the embedded server (started on demand) only when the variable is unset."""

from resources.cache import CacheResource
from resources.dbt import dbt_resource
from resources.graph import GraphResource
from resources.postgres import PostgresResource
from resources.vectors import VectorResource

__all__ = ["CacheResource", "GraphResource", "PostgresResource", "VectorResource", "dbt_resource"]
