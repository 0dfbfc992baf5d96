"""The go / no-go report a person reads (`hubs migrate report`): per phase its latest gate, why,
and the evidence in a few lines."""

from __future__ import annotations

from hubs.migrate.phases import PHASES, Gate, Phase, approvals_required

ENTITY_COLUMNS = ("legacy_rows", "mapped", "merged", "deleted", "in_hub", "quarantined", "unaccounted", "mismatched")


def _state(phase: Phase, gate: Gate | None, approvals: set[int]) -> str:
    if gate is None:
        return "not run"
    state = gate.decision
    if gate.go and phase.number in approvals:
        state += f", approved by {gate.approved_by}" if gate.approved_by else ", awaiting approval"
    return f"{state} ({gate.decided_at:%Y-%m-%d %H:%M:%S %Z})"


def _postgres_evidence(evidence: dict) -> list[str]:
    lines = _store_evidence({k: v for k, v in evidence.items() if k != "checks"})
    if "restored" in evidence:
        lines.append(f"  the record was restored to generation {evidence['restored']}: nothing of this run is kept")
    entities = evidence.get("entities", {})
    if not entities:
        return lines
    width = max(len(name) for name in entities)
    lines.append("    " + f"{'entity':{width}}  " + "  ".join(f"{c:>11}" for c in ENTITY_COLUMNS))
    for name, counts in entities.items():
        lines.append("    " + f"{name:{width}}  " + "  ".join(f"{counts.get(c, 0):>11,}" for c in ENTITY_COLUMNS))
    return lines


def _store_evidence(evidence: dict) -> list[str]:
    lines = []
    if "generation" in evidence:
        published = (
            f", published (readers had generation {evidence['published_before']})"
            if "published_before" in evidence
            else ""
        )
        lines.append(f"  generation {evidence['generation']}{published}")
    lines += [f"    {name:24} {c['verdict']:13} {c['summary']}" for name, c in evidence.get("checks", {}).items()]
    return lines


def gate_lines(phase: Phase, gate: Gate | None, approvals: set[int] | None = None) -> list[str]:
    approvals = approvals_required() if approvals is None else approvals
    lines = [f"phase {phase.number} {phase.title}: {_state(phase, gate, approvals)}"]
    if gate is None:
        return lines
    label = "rolled back" if gate.decision == "rolled-back" else "no-go because"
    lines += [f"  {label}: {reason}" for reason in gate.reasons]
    lines += _postgres_evidence(gate.evidence) if phase.store == "postgres" else _store_evidence(gate.evidence)
    if "gate_seconds" in gate.evidence:
        lines.append(f"  gate took {gate.evidence['gate_seconds']:.1f}s (run {gate.run_id})")
    return lines


def next_step(gates: dict[int, Gate | None]) -> str:
    """What the operator does next, from the phases' latest gates."""
    approvals = approvals_required()
    for phase in PHASES:
        gate = gates.get(phase.number)
        if gate is None:
            return f"next: `hubs migrate run {phase.number}` ({phase.does})"
        if gate.decision == "rolled-back":
            return f"next: `hubs migrate run {phase.number}` again (it was rolled back)"
        if not gate.go:
            return f"next: fix what phase {phase.number}'s gate found, then `hubs migrate run {phase.number}` again"
        if phase.number in approvals and gate.approved_by is None:
            return f"next: review phase {phase.number}'s evidence, then `hubs migrate approve {phase.number}`"
    return "every phase's gate is go: the hubs hold the legacy system"
