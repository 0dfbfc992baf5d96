"""The derived stores as assets, made from the catalog: for each store one asset per entity it
holds (lineage from the hub table to its node label, collection, key pattern or timeline) and
one asset for the store as a whole (what needs every entity: the graph's cross-entity edges,
the checks). One step syncs a store: it writes only what changed since the store's watermark.
"""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Backoff,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    multi_asset,
)

from hubs.catalog import Catalog, Entity
from hubs.sync.engine import EntitySync, StoreUnavailable, SyncFailed, sync
from hubs.sync.stores import STORES, describe, holds, opened
from resources import PostgresResource

GROUPS = {"graph": "graph", "cache": "cache", "vectors": "vectors", "timeline": "timeline"}
KINDS = {"graph": {"neo4j", "falkordb"}, "cache": {"redis"}, "vectors": {"qdrant"}, "timeline": {"graphiti"}}
WHOLE = {"graph": "replica", "cache": "keys", "vectors": "collections", "timeline": "edges"}
# A store that is down gets a few more tries before its step fails; the others go on.
RETRY = RetryPolicy(max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL)


class SyncConfig(Config):
    full: bool = False
    """Empty the store and rebuild it from PostgreSQL (the rollback path) instead of applying changes."""


def hub_key(entity: Entity, suffix: str = "") -> AssetKey:
    """The dbt model's asset key (see hub_assets.dbt.translator)."""
    return AssetKey([entity.schema, entity.table + suffix])


def entity_key(kind: str, entity: Entity) -> AssetKey:
    return AssetKey([kind, entity.schema, entity.table])


def store_key(kind: str) -> AssetKey:
    return AssetKey([kind, WHOLE[kind]])


def held(kind: str, catalog: Catalog) -> list[Entity]:
    return [e for e in catalog.entities if holds(kind, e)]


def _entity_spec(kind: str, entity: Entity) -> AssetSpec:
    deps = [hub_key(entity)] + ([hub_key(entity, "_history")] if entity.history == "scd2" else [])
    return AssetSpec(
        entity_key(kind, entity),
        deps=deps,
        group_name=GROUPS[kind],
        kinds=KINDS[kind],
        skippable=True,
        description=f"{entity.qualified_name} in the {kind} store: {describe(kind, entity)}.",
        metadata={"hubs/entity": entity.qualified_name, "hubs/label": entity.meta["label"]},
    )


def _store_spec(kind: str, entities: list[Entity]) -> AssetSpec:
    return AssetSpec(
        store_key(kind),
        deps=[entity_key(kind, e) for e in entities],
        group_name=GROUPS[kind],
        kinds=KINDS[kind],
        skippable=True,
        description=f"The {kind} store as a whole ({len(entities)} entities), guarded by its checks.",
    )


def _materialization(report: EntitySync, key: AssetKey) -> MaterializeResult:
    rate = report.upserted / report.seconds if report.seconds > 0 else 0.0
    return MaterializeResult(
        asset_key=key,
        metadata={
            "upserted": report.upserted,
            "deleted": report.deleted,
            "seconds": MetadataValue.float(round(report.seconds, 3)),
            "rows_per_second": MetadataValue.float(round(rate, 1)),
        },
    )


def build_store_assets(kind: str, catalog: Catalog) -> AssetsDefinition:
    """One multi-asset that keeps a store in sync with PostgreSQL (any subset of its entities)."""
    entities = held(kind, catalog)
    by_key = {entity_key(kind, e): e for e in entities}

    @multi_asset(
        name=f"sync_{kind}",
        specs=[*(_entity_spec(kind, e) for e in entities), _store_spec(kind, entities)],
        can_subset=True,
        retry_policy=RETRY,
        description=f"Apply PostgreSQL's changes since the last sync to the {kind} store.",
    )
    def _sync(
        context: AssetExecutionContext, config: SyncConfig, postgres: PostgresResource
    ) -> Iterator[MaterializeResult]:
        selected = [by_key[k] for k in context.selected_asset_keys if k in by_key]
        settings = postgres.ensure_ready()
        conn = postgres.connect()
        failed: SyncFailed | None = None
        try:
            with opened(kind, settings, catalog) as store:
                try:
                    reports = sync(
                        store,
                        conn,
                        catalog,
                        entities=[e.model for e in selected],
                        full=config.full,
                        progress=lambda r: context.log.info(
                            f"{kind} {r.entity}: {r.upserted} upserted, {r.deleted} deleted in {r.seconds:.1f}s"
                        ),
                        notify=context.log.warning,
                    )
                except SyncFailed as exc:
                    failed, reports = exc, exc.reports
                size = store.size(catalog) if store_key(kind) in context.selected_asset_keys else {}
        except StoreUnavailable as exc:
            raise Failure(description=f"the {kind} store is unavailable: {exc}", allow_retries=True) from exc
        finally:
            conn.close()
        by_model = {r.entity: r for r in reports}
        for entity in selected:
            if entity.model in by_model:
                yield _materialization(by_model[entity.model], entity_key(kind, entity))
        if failed is not None:
            # The same row fails again on a retry: say which, and do not retry.
            raise Failure(
                description=str(failed),
                metadata={"failures": MetadataValue.json([str(f) for f in failed.failures])},
                allow_retries=False,
            )
        if store_key(kind) in context.selected_asset_keys:
            yield MaterializeResult(
                asset_key=store_key(kind),
                metadata={
                    "upserted": sum(r.upserted for r in reports),
                    "deleted": sum(r.deleted for r in reports),
                    "entities": len(reports),
                    **{f"holds: {what}": n for what, n in size.items()},
                },
            )

    return _sync


def build_all_store_assets(catalog: Catalog) -> list[AssetsDefinition]:
    return [build_store_assets(kind, catalog) for kind in STORES]
