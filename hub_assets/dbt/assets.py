"""Every dbt model an asset, every dbt test an asset check (severity error = blocking)."""

import json
import logging
from collections.abc import Iterator
from typing import Any

from dagster import AssetCheckResult, AssetExecutionContext, MetadataValue, Output
from dagster_dbt import DbtCliResource, dbt_assets
from psycopg2 import sql

from hub_assets.dbt.order import BuildOrder
from hub_assets.dbt.pending import built_fingerprint, pending, project_fingerprint, record_built
from hub_assets.dbt.project import hubs_dbt_project
from hub_assets.dbt.translator import LEGACY_TAG, HubsDbtTranslator
from hub_assets.pools import POSTGRES_WRITERS
from hubs.faults import failpoint
from hubs.migrate.foreign import attach
from resources import PostgresResource

AUDIT_SCHEMA = "hubs_audit"
SAMPLE_ROWS = 10


class _UnchangedModelsTests(logging.Filter):
    """A refresh that builds some hub models does not run the tests of the others (their tables did
    not change: hub_assets/dbt/pending.py), and Dagster warns once per such test and downstream
    step that a blocking check gave no result. Here that is the point, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "emitted no result in step 'hub_models'" not in record.getMessage()


logging.getLogger("dagster._core.execution.plan.active").addFilter(_UnchangedModelsTests())


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
        yield _checked(event, postgres)


def _checked(event: Any, postgres: PostgresResource) -> Any:
    failpoint("dbt.event")
    if isinstance(event, AssetCheckResult) and not event.passed:
        return with_offending_keys(event, postgres)
    return event


def _refresh(context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource) -> Iterator[Any]:
    """Build what the landed rows changed (hub_assets/dbt/pending.py); a run that asks for a
    subset, or a database where everything is pending, builds as asked."""
    postgres.ensure_ready()
    if context.is_subset:
        yield from _build(context, dbt, postgres)
        return
    manifest = json.loads(hubs_dbt_project.manifest_path.read_text())
    fingerprint = project_fingerprint(manifest)
    conn = postgres.connect()
    try:
        changed_project = built_fingerprint(conn) != fingerprint
        todo = pending(conn, manifest)
    finally:
        conn.close()
    if changed_project or todo.everything:
        if changed_project:
            context.log.info("the dbt project changed since its last whole build: dbt builds everything")
        yield from _build(context, dbt, postgres)
        conn = postgres.connect()  # reached only if dbt succeeded (it raises otherwise)
        try:
            record_built(conn, fingerprint)
        finally:
            conn.close()
        return
    order = BuildOrder(context, manifest)
    if todo.nothing:
        context.log.info("nothing landed since the last build: dbt is not run, every hub model is as it was")
        yield from order.unchanged_rest()
        return
    chosen = todo.models()
    context.log.info(
        f"{len(todo.reasons)} of {len(todo.feeds)} landing tables received rows; dbt builds "
        + ", ".join(manifest["nodes"][uid]["name"] for uid in chosen)
        + " and their tests"
    )
    translator = HubsDbtTranslator()
    invocation = dbt.cli(
        # one value, names separated by spaces (dagster-dbt passes --select on with its first value only)
        [
            "build",
            "--select",
            " ".join(manifest["nodes"][uid]["name"] for uid in chosen),
            "--exclude",
            f"tag:{LEGACY_TAG}",
        ],
        manifest=manifest,
        dagster_dbt_translator=translator,
    )
    order.built(chosen)
    for raw in invocation.stream_raw_events():
        for event in raw.to_default_asset_events(
            manifest=manifest,
            dagster_dbt_translator=translator,
            context=context,
            target_path=invocation.target_path,
            project=hubs_dbt_project,
        ):
            if isinstance(event, Output):
                yield from order.unchanged_before(event.output_name)
            yield _checked(event, postgres)
    yield from order.unchanged_rest()


@dbt_assets(
    manifest=hubs_dbt_project.manifest_path,
    project=hubs_dbt_project,
    dagster_dbt_translator=HubsDbtTranslator(),
    exclude=f"tag:{LEGACY_TAG}",
    pool=POSTGRES_WRITERS,
)
def hub_models(context: AssetExecutionContext, dbt: DbtCliResource, postgres: PostgresResource) -> Iterator[Any]:
    yield from _refresh(context, dbt, postgres)


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
