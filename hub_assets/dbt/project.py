"""The dbt project as Dagster sees it; its manifest is parsed on demand when stale."""

from __future__ import annotations

from dagster_dbt import DbtProject

from hubs.catalog import ensure_manifest
from hubs.settings import DBT_PROJECT_DIR

hubs_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Parse when the manifest is missing or older than the project's files (dagster dev, tests,
# a fresh clone), so definitions always match the yml.
ensure_manifest()
