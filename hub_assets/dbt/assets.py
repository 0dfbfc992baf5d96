"""Every dbt model an asset, every dbt test an asset check (severity error = blocking)."""

from collections.abc import Iterator
from typing import Any

from dagster import AssetCheckResult, AssetExecutionContext, MetadataValue
from dagster_dbt import DbtCliResource, dbt_assets
from psycopg2 import sql

from hub_assets.dbt.project import hubs_dbt_project
from hub_assets.dbt.translator import LEGACY_TAG, HubsDbtTranslator
from hub_assets.pools import POSTGRES_WRITERS
from hubs.faults import failpoint
from hubs.migrate.foreign import attach
from resources import PostgresResource

AUDIT_SCHEMA = "hubs_audit"
SAMPLE_ROWS = 10


def offending_sample(postgres: PostgresResource, test_name: str) -> str:
    """The first failing rows dbt stored for a test, as a markdown table."""
    conn = postgres.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("select * from {} limit %s").format(sql.Identifier(AUDIT_SCHEMA, test_name)), (SAMPLE_ROWS,)
            )
            columns = [d.name for d in cur.description]
            rows = cur.fetchall()
    finally:
        conn.close()
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def with_offending_keys(result: AssetCheckResult, postgres: PostgresResource) -> AssetCheckResult:
    try:
        sample = offending_sample(postgres, result.check_name)
    except Exception as exc:  # the check's verdict stands even if its sample cannot be read
        sample = f"(no sample: {exc})"
    return AssetCheckResult(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        severity=result.severity,
        description=result.description,
        metadata={**result.metadata, "offending_rows": MetadataValue.md(sample)},
    )


def _build(context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource) -> Iterator[Any]:
    postgres.ensure_ready()
    for event in dbt.cli(["build"], context=context).stream():
        failpoint("dbt.event")
        if isinstance(event, AssetCheckResult) and not event.passed:
            event = with_offending_keys(event, postgres)
        yield event


@dbt_assets(
    manifest=hubs_dbt_project.manifest_path,
    project=hubs_dbt_project,
    dagster_dbt_translator=HubsDbtTranslator(),
    exclude=f"tag:{LEGACY_TAG}",
    pool=POSTGRES_WRITERS,
)
def hub_models(context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource) -> Iterator[Any]:
    yield from _build(context, dbt, postgres)


@dbt_assets(
    manifest=hubs_dbt_project.manifest_path,
    project=hubs_dbt_project,
    dagster_dbt_translator=HubsDbtTranslator(),
    select=f"tag:{LEGACY_TAG}",
    pool=POSTGRES_WRITERS,
)
def legacy_models(context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource) -> Iterator[Any]:
    """The legacy mapping views (and the status codes they decode with) over the legacy system,
    attached first as foreign tables (hubs.migrate.foreign)."""
    conn = postgres.connect()
    try:
        tables = attach(conn, postgres.settings().effective_legacy_url)
    finally:
        conn.close()
    context.log.info(f"legacy system attached: {', '.join(tables) or 'no tables'}")
    yield from _build(context, dbt, postgres)
