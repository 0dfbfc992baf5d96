"""The landing group: one asset per landing table, all written by one step that lands files."""

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from hub_assets.dbt.project import hubs_dbt_project
from hub_assets.dbt.translator import LANDING_GROUP, LANDING_SOURCE, HubsDbtTranslator
from hub_assets.pools import POSTGRES_WRITERS
from hubs.catalog import Catalog, Entity
from hubs.db import connect
from hubs.faults import failpoint
from hubs.landing.loader import FileResult, load_paths
from hubs.migrate.extract import extract_legacy
from hubs.migrate.phases import PHASE_TAG, phase_note
from hubs.sync import generations, publishing, record_generation
from hubs.sync.generations import GenerationRefused
from resources import PostgresResource

FILES_KEY = AssetKey([LANDING_GROUP, "_files"])


@cache
def _landing_keys() -> dict[str, AssetKey]:
    """Landing table -> the key the dbt translator gives its source table."""
    manifest = json.loads(hubs_dbt_project.manifest_path.read_text())
    translator = HubsDbtTranslator()
    return {
        source["name"]: translator.get_asset_key(source)
        for source in manifest["sources"].values()
        if source["source_name"] == LANDING_SOURCE
    }


def landing_key(entity: Entity) -> AssetKey:
    """The key dagster-dbt gives the dbt source landing.<table> (the translator's), so the lineage
    from a landing table to its staging model is one asset."""
    return _landing_keys()[entity.landing_table]


class LandingConfig(Config):
    path: str = ""
    """A file or folder to land; empty means the inbox (HUBS_HOME/inbox)."""
    legacy: str = ""
    """Instead of files, extract from the legacy system's mapping views (hubs migrate): `changes`
    (rows updated since the last extraction; everything the first time) or `sweep` (every row,
    for changes the legacy system did not date)."""


def _landed_totals(settings: Any) -> dict[str, int]:
    conn = connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select entity, coalesce(sum(rows), 0) from landing._files where status = 'loaded' group by entity"
            )
            return {entity: int(rows) for entity, rows in cur.fetchall()}
    finally:
        conn.close()


def _begin_record_generation(context: AssetExecutionContext, settings: Any, catalog: Catalog) -> None:
    """Migration phase 1 writes the record in place: first the record as it is is copied, so the
    phase's gate (on a no-go) or `hubs migrate rollback 1` can restore it."""
    conn = connect(settings)
    try:
        before = generations.published(conn, record_generation.STORE)
        generation = publishing.start(
            conn, settings, catalog, record_generation.STORE, note=phase_note(context.run.run_id)
        )
    except GenerationRefused as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    finally:
        conn.close()
    context.log.info(
        f"migration phase 1: the record as it was (generation {before}) is copied into"
        f" {record_generation.copy_schema(before)}; the phase writes generation {generation} in place"
    )


def build_landing_assets(catalog: Catalog) -> AssetsDefinition:
    by_key = {landing_key(e): e for e in catalog.entities}
    specs = [
        AssetSpec(
            key,
            group_name=LANDING_GROUP,
            kinds={"postgres"},
            description=f"Rows landed from {e.qualified_name}.csv|jsonl files, as received (text).",
        )
        for key, e in by_key.items()
    ]
    specs.append(
        AssetSpec(
            FILES_KEY,
            group_name=LANDING_GROUP,
            kinds={"postgres"},
            description="Every file offered to the loader: landed, skipped (already landed) or refused, and why.",
        )
    )

    @multi_asset(
        name="land_files",
        specs=specs,
        check_specs=[
            AssetCheckSpec(
                "no_refused_files",
                asset=FILES_KEY,
                description="Every file offered in the run was landed or already landed.",
            )
        ],
        can_subset=True,
        pool=POSTGRES_WRITERS,
    )
    def land_files(context: AssetExecutionContext, config: LandingConfig, postgres: PostgresResource) -> Iterator[Any]:
        settings = postgres.ensure_ready()
        path = Path(config.path) if config.path else settings.inbox_dir
        if not config.path and not config.legacy:
            path.mkdir(parents=True, exist_ok=True)

        def report(result: FileResult) -> None:
            (context.log.warning if result.status == "refused" else context.log.info)(result.line)
            failpoint("land.file")

        if config.legacy:
            if context.run.tags.get(PHASE_TAG) == "1":
                _begin_record_generation(context, settings, catalog)
            results = extract_legacy(settings, catalog, config.legacy, progress=report)
        else:
            results = load_paths(settings, catalog, [path], progress=report)
        new_rows: Counter[str] = Counter()
        files: dict[str, list[str]] = defaultdict(list)
        for r in results:
            if r.entity and r.status == "loaded":
                new_rows[r.entity] += r.rows
                files[r.entity].append(r.path.name)
        totals = _landed_totals(settings)
        for key in context.selected_asset_keys:
            if key == FILES_KEY:
                statuses = Counter(r.status for r in results)
                yield MaterializeResult(
                    asset_key=key,
                    metadata={
                        "loaded": statuses["loaded"],
                        "skipped": statuses["skipped"],
                        "refused": statuses["refused"],
                    },
                )
                continue
            entity = by_key[key]
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "new_rows": new_rows[entity.qualified_name],
                    "landed_rows_total": totals.get(entity.qualified_name, 0),
                    "files": MetadataValue.json(files[entity.qualified_name]),
                },
            )
        if FILES_KEY in context.selected_asset_keys:
            refused = [r for r in results if r.status == "refused"]
            yield AssetCheckResult(
                asset_key=FILES_KEY,
                check_name="no_refused_files",
                passed=not refused,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "refused": len(refused),
                    "files": MetadataValue.json({r.path.name: r.message for r in refused[:20]}),
                },
            )

    return land_files
