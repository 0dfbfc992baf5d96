"""Real-time cache keys (truck status and location, load status: TTL 60 s) expire unless
rewritten; this sensor rewrites them from PostgreSQL every 30 s.

It does the small write itself instead of launching a run: a run every 30 s would bury the
runs the team looks at, and rewriting a few hundred keys takes milliseconds. Each rewrite is
recorded as a materialization of the `cache/realtime_keys` asset (an event, not a run), whose
60-second freshness policy shows in the UI when the keys have gone stale.
"""

from dagster import AssetMaterialization, DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor
from psycopg2 import errors

from hub_assets.stores.assets import REALTIME_KEY
from hubs.catalog import load_catalog
from hubs.sync.engine import StoreUnavailable
from hubs.sync.lock import store_writer
from hubs.sync.stores import cache_client
from resources import PostgresResource

INTERVAL_SECONDS = 30


@sensor(
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Keeps the 60-second real-time cache keys alive between refreshes.",
)
def realtime_cache_keeper(context: SensorEvaluationContext, postgres: PostgresResource) -> SensorResult | SkipReason:
    from hubs.sync.cache import CacheStore

    settings = postgres.settings()
    try:
        store = CacheStore(cache_client(settings))
    except StoreUnavailable as exc:
        return SkipReason(f"cache unavailable, will retry: {exc}")
    conn = postgres.connect()
    try:
        # A sync of the cache (a rebuild empties it first) owns it meanwhile; this tick waits its turn.
        with store_writer(conn, store.name, wait=False) as mine:
            if not mine:
                return SkipReason("a cache sync is running; it writes the real-time keys itself")
            try:
                written = store.refresh_realtime(conn, load_catalog())
            except errors.UndefinedTable:  # a new database: nothing built yet, nothing to keep alive
                return SkipReason("the hub tables are not built yet (run refresh)")
    finally:
        conn.close()
        store.close()
    return SensorResult(
        skip_reason=f"refreshed {written} real-time keys (no run needed)",
        asset_events=[AssetMaterialization(REALTIME_KEY, metadata={"keys": written})],
    )
