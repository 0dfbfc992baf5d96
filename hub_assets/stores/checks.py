"""The store checks (G1-G10, X1-X4, T1-T5) as Dagster asset checks on each store's whole-store
asset, one step per store; each reports its counts and a sample of offending keys."""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    Config,
    MetadataValue,
    multi_asset_check,
)

from hub_assets.stores.assets import store_key
from hubs.catalog import Catalog
from hubs.checks import checks_of
from hubs.checks.base import CheckContext, CheckOutcome, RegisteredCheck
from hubs.sync.engine import StoreUnavailable
from hubs.sync.lock import store_readers
from hubs.sync.stores import STORES
from resources import PostgresResource

# Temporal checks compare the timeline with the graph replica as well as PostgreSQL.
ALSO_READS = {"timeline": ["graph"]}


def _result(kind: str, outcome: CheckOutcome) -> AssetCheckResult:
    shown = outcome.metadata()
    metadata: dict = {
        name: MetadataValue.int(value) if isinstance(value, int) else MetadataValue.text(value)
        for name, value in shown.items()
    }
    if outcome.offending:
        metadata["offending"] = MetadataValue.md(shown["offending"])  # a list: markdown
    return AssetCheckResult(
        asset_key=store_key(kind),
        check_name=outcome.name,
        passed=outcome.passed,
        # A check that asked nothing did not pass, and found nothing wrong either: a warning.
        severity=AssetCheckSeverity.WARN if outcome.warned else AssetCheckSeverity.ERROR,
        description=outcome.summary,
        metadata=metadata,
    )


class StoreCheckConfig(Config):
    full: bool = False
    """Ask about every row, not only those changed since a check last passed (hubs/checks/scope.py)."""


def build_store_checks(kind: str, catalog: Catalog) -> AssetChecksDefinition:
    registered = checks_of(kind)
    specs = [
        AssetCheckSpec(
            c.name,
            asset=store_key(kind),
            description=c.description,
            additional_deps=[store_key(other) for other in ALSO_READS.get(kind, [])],
        )
        for c in registered
    ]

    @multi_asset_check(specs=specs, name=f"check_{kind}", can_subset=True)
    def _checks(
        context: AssetCheckExecutionContext, config: StoreCheckConfig, postgres: PostgresResource
    ) -> Iterator[AssetCheckResult]:
        selected = {key.name for key in context.selected_asset_check_keys}
        conn = postgres.connect()
        settings = postgres.settings()
        checks = CheckContext(conn, catalog, settings, full=config.full)
        try:
            with store_readers(conn, _store_names(checks, kind), context.log.warning):
                yield from _evaluate(context, kind, registered, selected, checks)
        finally:
            checks.close()
            conn.close()

    return _checks


def _store_names(checks: CheckContext, kind: str) -> list[str]:
    """The stores the checks read, by their sync names (a sync of one, another run's, would show
    them a store half written, so they wait for it); none when a store cannot be reached (each
    check then says so)."""
    try:
        return [checks.store(store).name for store in [kind, *ALSO_READS.get(kind, [])]]
    except StoreUnavailable:
        return []


def _evaluate(
    context: AssetCheckExecutionContext,
    kind: str,
    registered: list[RegisteredCheck],
    selected: set[str],
    checks: CheckContext,
) -> Iterator[AssetCheckResult]:
    for registered_check in registered:
        if registered_check.name not in selected:
            continue
        outcome = registered_check.outcome(checks)
        verdict = "passed" if outcome.passed else "WARNED" if outcome.warned else "FAILED"
        context.log.info(f"{outcome.name}: {verdict} - {outcome.summary}")
        yield _result(kind, outcome)


def build_all_store_checks(catalog: Catalog) -> list[AssetChecksDefinition]:
    return [build_store_checks(kind, catalog) for kind in STORES if checks_of(kind)]
