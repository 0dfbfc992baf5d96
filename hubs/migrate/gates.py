"""What a phase's gate asks before it says go.

- Phase 1 (PostgreSQL): the reconciliation of the legacy system with the hubs (every legacy row
  in a hub table or in quarantine, every mapped value equal), besides the dbt tests that ran in
  the phase's build (a failing blocking test stops the run before the gate).
- Phases 2-5: the store's own checks (G1-G10 graph, X1-X3 vectors and cache, T1-T5 and X4
  timeline), run against the store the phase just wrote. A check that asked nothing is evidence,
  not a reason for no-go (it is listed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog
from hubs.checks import checks_of
from hubs.checks.base import CheckContext
from hubs.migrate.phases import Gate, Phase, phase_note, record
from hubs.migrate.reconcile import reconcile
from hubs.settings import Settings
from hubs.sync import generations, publishing


@dataclass
class GateEvaluation:
    reasons: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


def _postgres(conn: Connection, catalog: Catalog) -> GateEvaluation:
    results = reconcile(conn, catalog)
    gate = GateEvaluation(evidence={"entities": {r.entity: r.as_dict() for r in results}})
    if not results:
        gate.reasons.append("no legacy mapping views (legacy_map.map_*): nothing was migrated")
    for r in results:
        if r.unaccounted:
            gate.reasons.append(
                f"{r.entity}: {r.unaccounted} legacy row(s) neither in the hub nor in quarantine"
                f" (e.g. {', '.join(r.unaccounted_sample)})"
            )
        if r.mismatched:
            example = r.mismatch_sample[0]
            gate.reasons.append(
                f"{r.entity}: {r.mismatched} row(s) differ from the legacy system"
                f" (e.g. {example['legacy_row']}: {', '.join(example['columns'])})"
            )
    return gate


def _store(kind: str, conn: Connection, catalog: Catalog, settings: Settings, generation: int) -> GateEvaluation:
    checks = CheckContext(conn, catalog, settings, {kind: generation})
    gate = GateEvaluation(evidence={"generation": generation, "checks": {}})
    try:
        for registered in checks_of(kind):
            outcome = registered.outcome(checks)
            verdict = "passed" if outcome.passed else "asked nothing" if outcome.warned else "failed"
            gate.evidence["checks"][outcome.name] = {"verdict": verdict, "summary": outcome.summary, **outcome.counts}
            if not outcome.passed and not outcome.warned:
                example = f" (e.g. {outcome.offending[0]})" if outcome.offending else ""
                gate.reasons.append(f"{outcome.name}: {outcome.summary}{example}")
    finally:
        checks.close()
    return gate


def built_in_run(conn: Connection, store: str, run_id: str) -> int | None:
    """The generation of the store a phase run wrote (None if its sync never started one)."""
    mine = [g.generation for g in generations.listed(conn, store) if g.note == phase_note(run_id)]
    return mine[0] if mine else None


def evaluate(phase: Phase, conn: Connection, catalog: Catalog, settings: Settings, run_id: str) -> GateEvaluation:
    started = time.monotonic()
    if phase.store == "postgres":
        gate = _postgres(conn, catalog)
        # the record generation the run writes in place (none: the gate was launched on its own)
        written = built_in_run(conn, phase.store, run_id)
        if written is not None:
            gate.evidence["generation"] = written
    else:
        generation = built_in_run(conn, phase.store, run_id)
        if generation is None:
            gate = GateEvaluation(reasons=[f"this run wrote no generation of the {phase.store} store"])
        else:
            gate = _store(phase.store, conn, catalog, settings, generation)
    gate.evidence["gate_seconds"] = round(time.monotonic() - started, 3)
    return gate


def decide(phase: Phase, conn: Connection, catalog: Catalog, settings: Settings, run_id: str) -> Gate:
    """Evaluate the phase's gate, record it, and publish the generation the phase wrote on a go
    (pruning the copies beyond the last few) or mark it failed on a no-go: a generation that fails
    its gate is never published, so readers keep the one before (phase 1 wrote the record in
    place: a no-go restores the record as it was before the run)."""
    evaluation = evaluate(phase, conn, catalog, settings, run_id)
    generation = evaluation.evidence.get("generation")
    if generation is not None:
        if evaluation.reasons:
            evaluation.evidence.update(_fail(conn, phase.store, generation, evaluation.reasons))
        else:
            started = time.monotonic()
            evaluation.evidence["published_before"] = publishing.publish(conn, settings, phase.store, generation)
            evaluation.evidence["publish_seconds"] = round(time.monotonic() - started, 4)
            evaluation.evidence["pruned"] = publishing.prune(conn, settings, catalog, phase.store)
    return record(conn, phase.number, run_id, evaluation.reasons, evaluation.evidence)


def abandon(conn: Connection, store: str, run_id: str, reasons: list[str]) -> dict[str, Any]:
    """A phase run that stopped before its gate: the generation it was writing is failed (never
    published; phase 1's record is restored to the published generation); the evidence."""
    written = built_in_run(conn, store, run_id)
    statuses = {g.generation: g.status for g in generations.listed(conn, store)}
    if written is None or statuses.get(written) != "building":
        return {}
    return {"generation": written, "failed": True, **_fail(conn, store, written, reasons)}


def _fail(conn: Connection, store: str, generation: int, reasons: list[str]) -> dict[str, Any]:
    """Mark the generation failed (never published); phase 1's record is restored to the
    published generation, which the evidence names with the restore's time."""
    started = time.monotonic()
    publishing.fail(conn, store, generation, "; ".join(reasons)[:1000])
    if store != "postgres":
        return {}
    return {"restored": generations.published(conn, store), "restore_seconds": round(time.monotonic() - started, 4)}
