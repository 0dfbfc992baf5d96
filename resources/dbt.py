"""dbt, run from the project in dbt_project/ with the profile beside it.

The profile reads the same variables as the platform (HUBS_POSTGRES_URL, HUBS_POSTGRES_PORT,
HUBS_DBT_THREADS), so dbt alone and dbt under Dagster reach the same database.
"""

from __future__ import annotations

from dagster_dbt import DbtCliResource

from hubs.catalog import dbt_executable
from hubs.settings import DBT_PROJECT_DIR


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
    )
