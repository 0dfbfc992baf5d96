"""The derived stores as assets, made from the catalog: for each store one asset per entity it
holds (lineage from the hub table to its node label, collection, key pattern or timeline) and
one asset for the store as a whole (what needs every entity: the graph's cross-entity edges,
the checks). One step syncs a store: it writes only what changed since the store's watermark.

The stores follow their hub tables by themselves (AutomationCondition.eager, evaluated by the
`stores_follow_hubs` sensor while `dagster dev` runs): once a hub table is materialized, the
store entities reading it are synced, and each whole-store asset with them. A run that builds
the stores itself (`refresh`, the CLI's too) is not doubled: eager waits while a store is part of
a run in progress, and once the run has materialized it there is nothing left to do.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    Backoff,
    Config,
    DefaultSensorStatus,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    multi_asset,
)
from dagster_dbt import get_asset_key_for_model

from hub_assets.dbt.assets import hub_models
from hubs.catalog import Catalog, Entity
from hubs.freshness import StoreLag, store_lags
from hubs.migrate.phases import PHASE_TAG, PhaseBlocked, phase_note, require_open
from hubs.sync import publishing
from hubs.sync.engine import EntitySync, StoreUnavailable, SyncFailed, sync
from hubs.sync.generations import family
from hubs.sync.kinds import KINDS, STORES
from hubs.sync.stores import opened
from resources import PostgresResource

# A store that is down gets a few more tries before its step fails; the others go on.
RETRY = RetryPolicy(max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL)

FOLLOW_HUBS = AutomationCondition.eager()
# A store synced on every hub change and not for a day has either failed its syncs or seen no
# new data for a day: either way the UI marks it (Freshness: failing) for a look.
STORE_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(hours=24))
# The real-time keys live 60 s unless rewritten (hub_assets/stores/sensors.py every 30 s): one
# not rewritten for 60 s has expired.
REALTIME_TTL_SECONDS = 60
REALTIME_KEY = AssetKey(["cache", "realtime_keys"])
REALTIME_FRESHNESS = FreshnessPolicy.time_window(fail_window=timedelta(seconds=REALTIME_TTL_SECONDS))


class SyncConfig(Config):
    full: bool = False
    """Empty the selected entities (all of them: the whole store) and rebuild them from PostgreSQL (the
    rollback path) instead of applying changes."""


def hub_key(entity: Entity, suffix: str = "") -> AssetKey:
    """The key the dbt translator gave the entity's model (or its `_history` model)."""
    return get_asset_key_for_model([hub_models], entity.model + suffix)


def entity_key(kind: str, entity: Entity) -> AssetKey:
    """graph/hub3_origin/tractors_in_graph: the graph view labels a node with the last part of its
    key, and `tractors` is the hub table's (and every other store's) label too."""
    return AssetKey([kind, entity.schema, f"{entity.table}_in_{kind}"])


def store_key(kind: str) -> AssetKey:
    return AssetKey([kind, KINDS[kind].whole])


def held(kind: str, catalog: Catalog) -> list[Entity]:
    return KINDS[kind].held(catalog)


def _entity_spec(kind: str, entity: Entity) -> AssetSpec:
    deps = [hub_key(entity)] + ([hub_key(entity, "_history")] if entity.history == "scd2" else [])
    return AssetSpec(
        entity_key(kind, entity),
        deps=deps,
        group_name=kind,
        kinds=set(KINDS[kind].technologies),
        skippable=True,
        automation_condition=FOLLOW_HUBS,
        freshness_policy=STORE_FRESHNESS,
        description=f"{entity.qualified_name} in the {kind} store: {KINDS[kind].describe(entity)}.",
        metadata={"hubs/entity": entity.qualified_name, "hubs/label": entity.label},
    )


def _store_spec(kind: str, entities: list[Entity]) -> AssetSpec:
    return AssetSpec(
        store_key(kind),
        deps=[entity_key(kind, e) for e in entities],
        group_name=kind,
        kinds=set(KINDS[kind].technologies),
        skippable=True,
        automation_condition=FOLLOW_HUBS,
        freshness_policy=STORE_FRESHNESS,
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


def _freshness(lag: StoreLag | None) -> dict[str, Any]:
    """The store's lag behind PostgreSQL as the read API reports it (hubs/freshness.py), so the
    UI and an answer's provenance show the same figures."""
    if lag is None:
        return {}
    return {
        "freshness: last_sync": MetadataValue.timestamp(lag.last_sync) if lag.last_sync else "never",
        "freshness: behind": lag.changed + lag.deleted,
        "freshness": lag.describe(),
    }


def _phase_generation(
    context: AssetExecutionContext, conn: Any, kind: str, settings: Any, catalog: Catalog
) -> int | None:
    """In a migration phase's run (tagged by its job): nothing is written before the previous gate
    is go, and then into a new generation of the store, which the phase's gate publishes or fails;
    None outside a phase (the published generation is written)."""
    phase = context.run.tags.get(PHASE_TAG)
    if phase is None:
        return None
    try:
        require_open(conn, int(phase))
    except PhaseBlocked as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    generation = publishing.start(conn, settings, catalog, kind, note=phase_note(context.run.run_id))
    context.log.info(f"migration phase {phase}: writing generation {generation} of the {kind} store")
    return generation


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
        conn = postgres.connect()
        settings = postgres.settings()
        failed: SyncFailed | None = None
        try:
            generation = _phase_generation(context, conn, kind, settings, catalog)
            with opened(kind, settings, catalog, generation) as store:
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
                whole = store_key(kind) in context.selected_asset_keys
                size = store.size(catalog) if whole else {}
                lag = store_lags(conn, catalog, family(store.name), [kind])[0] if whole else None
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
                    **_freshness(lag),
                },
            )

    return _sync


def build_all_store_assets(catalog: Catalog) -> list[AssetsDefinition]:
    return [build_store_assets(kind, catalog) for kind in STORES]


def realtime_entities(catalog: Catalog) -> list[Entity]:
    return [e for e in held("cache", catalog) if any(k.ttl_seconds == REALTIME_TTL_SECONDS for k in e.cache)]


def realtime_keys_spec(catalog: Catalog) -> AssetSpec:
    """The 60-second cache keys, kept alive by the realtime_cache_keeper sensor, which records a
    materialization of this asset each time it rewrites them (no run): a stale one shows."""
    return AssetSpec(
        REALTIME_KEY,
        deps=[hub_key(e) for e in realtime_entities(catalog)],
        group_name="cache",
        kinds=set(KINDS["cache"].technologies),
        freshness_policy=REALTIME_FRESHNESS,
        description=(
            f"The real-time cache keys (TTL {REALTIME_TTL_SECONDS} s), rewritten from PostgreSQL every 30 s by "
            "the realtime_cache_keeper sensor while `dagster dev` runs."
        ),
    )


def follow_hubs_sensor() -> AutomationConditionSensorDefinition:
    """Evaluates the stores' automation conditions (running by default: Dagster's own default
    sensor for them starts stopped)."""
    return AutomationConditionSensorDefinition(
        "stores_follow_hubs",
        target=AssetSelection.groups(*STORES).materializable(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Syncs a store's entities once their hub tables have changed (AutomationCondition.eager).",
    )
