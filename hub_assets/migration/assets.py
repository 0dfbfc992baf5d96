"""The migration's gates (one asset per phase, group `migration`) and its phase jobs.

Phase 1's job builds the legacy mapping, extracts the legacy system into landing and builds the
hubs from it; phases 2-5 each sync one derived store. Every phase job ends in its gate, which
records go / no-go with the evidence (hubs_meta.migration_gates, and this asset's metadata) and
reports it as the blocking check `go`.
"""

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    define_asset_job,
    multi_asset,
)
from dagster_dbt import build_dbt_asset_selection

from hub_assets.dbt.assets import hub_models
from hub_assets.dbt.project import hubs_dbt_project
from hub_assets.dbt.translator import LEGACY_GROUP, MIGRATION_GROUP
from hub_assets.landing.assets import landing_key
from hub_assets.stores.assets import hub_key, store_key
from hubs.catalog import Catalog, Entity
from hubs.migrate.extract import MAP_PREFIX
from hubs.migrate.gates import decide
from hubs.migrate.phases import MAPPING_JOB, PHASE_TAG, PHASES, Phase, PhaseBlocked, require_open
from resources import PostgresResource

GO_CHECK = "go"


def gate_key(phase: Phase) -> AssetKey:
    return AssetKey([MIGRATION_GROUP, f"gate_{phase.number}_{phase.store}"])


@cache
def _mapped_tables() -> frozenset[str]:
    """Landing tables a legacy mapping model (map_<landing table>) feeds. The mapping is not an
    upstream of landing in the asset graph: selecting what a hub table needs must never pull in a
    legacy system that is attached only during a migration (phase 1 runs the mapping job first)."""
    manifest = json.loads(hubs_dbt_project.manifest_path.read_text())
    return frozenset(
        node["name"].removeprefix(MAP_PREFIX)
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["name"].startswith(MAP_PREFIX)
    )


def mapped_entities(catalog: Catalog) -> list[Entity]:
    """The entities a legacy mapping model feeds."""
    return [e for e in catalog.entities if e.landing_table in _mapped_tables()]


def _reads(phase: Phase, catalog: Catalog) -> list[AssetKey]:
    if phase.store == "postgres":
        return [hub_key(e) for e in mapped_entities(catalog)]
    return [store_key(phase.store)]


def _metadata(gate: Any) -> dict[str, Any]:
    return {
        "decision": gate.decision,
        "reasons": MetadataValue.md("\n".join(f"- {r}" for r in gate.reasons) or "none"),
        "evidence": MetadataValue.json(gate.evidence),
        "gate_id": gate.gate_id,
    }


def build_gate(phase: Phase, catalog: Catalog) -> AssetsDefinition:
    key = gate_key(phase)

    @multi_asset(
        name=f"gate_{phase.number}_{phase.store}",
        specs=[
            AssetSpec(
                key,
                group_name=MIGRATION_GROUP,
                deps=_reads(phase, catalog),
                kinds={"postgres"},
                description=f"Phase {phase.number} ({phase.title}) go / no-go, with its evidence.",
            )
        ],
        check_specs=[AssetCheckSpec(GO_CHECK, asset=key, blocking=True, description="The gate said go.")],
    )
    def _gate(context: AssetExecutionContext, postgres: PostgresResource) -> Iterator[Any]:
        conn = postgres.connect()
        try:
            # Launched on its own (Materialize in the UI), a gate still judges only in order.
            try:
                require_open(conn, phase.number)
            except PhaseBlocked as exc:
                raise Failure(description=str(exc), allow_retries=False) from exc
            gate = decide(phase, conn, catalog, postgres.settings(), context.run.run_id)
        finally:
            conn.close()
        (context.log.info if gate.go else context.log.error)(
            f"phase {phase.number} gate: {gate.decision}" + "".join(f"\n  {r}" for r in gate.reasons)
        )
        yield MaterializeResult(asset_key=key, metadata=_metadata(gate))
        yield AssetCheckResult(
            asset_key=key,
            check_name=GO_CHECK,
            passed=gate.go,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(gate.reasons) or "go",
        )

    return _gate


def build_gates(catalog: Catalog) -> list[AssetsDefinition]:
    return [build_gate(phase, catalog) for phase in PHASES]


def _selection(phase: Phase, catalog: Catalog) -> AssetSelection:
    gate = AssetSelection.assets(gate_key(phase))
    if phase.store != "postgres":
        return AssetSelection.groups(phase.store).materializable().without_checks() | gate
    mapped = mapped_entities(catalog)
    landing = AssetSelection.assets(*(landing_key(e) for e in mapped))
    # Every hub model and its tests (a mapped table's staging joins parents that may not be
    # mapped), but not the validations (tag validation): those ask for a complete business (every
    # delivered load invoiced, every party categorised), which no legacy system of a few tables
    # is; the gate asks instead whether the hubs hold exactly what the legacy system holds.
    built = build_dbt_asset_selection([hub_models], dbt_select="fqn:*", dbt_exclude="tag:validation tag:legacy")
    return landing | built | gate


def phase_jobs(catalog: Catalog) -> list[Any]:
    """One job per phase, and phase 1's mapping job before it: phase 1 extracts what changed in the
    legacy system (all of it the first time) through the mapping views that job builds."""
    jobs = [
        define_asset_job(
            MAPPING_JOB,
            selection=AssetSelection.groups(LEGACY_GROUP).materializable(),
            tags={PHASE_TAG: "1"},
            description="Migration phase 1, first part: attach the legacy system and build its mapping views (dbt).",
        )
    ]
    for phase in PHASES:
        config = {"ops": {"land_files": {"config": {"legacy": "changes"}}}} if phase.store == "postgres" else None
        jobs.append(
            define_asset_job(
                phase.job,
                selection=_selection(phase, catalog),
                config=config,
                tags={PHASE_TAG: str(phase.number)},
                description=f"Migration phase {phase.number}: {phase.does}, then its gate.",
            )
        )
    return jobs
