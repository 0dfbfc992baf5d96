"""The migration's five phases and their gates' decisions (hubs_meta.migration_gates).

A phase runs as a Dagster job (`migrate_<n>_<store>`) and ends in its gate, which records a go or
no-go with its evidence. A phase starts only when the previous phase's latest gate is "go" (and
approved by an operator, for the phases HUBS_MIGRATION_APPROVALS names): the CLI refuses before
launching, and the job's first writing step refuses too, so a run launched from the UI cannot
skip a gate either.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extensions import connection as Connection

#: run tag naming the phase a run belongs to (the phase jobs set it)
PHASE_TAG = "hubs/migration_phase"
#: phase 1's first job: attach the legacy system and build the mapping views its extraction reads
MAPPING_JOB = "migrate_1_mapping"
APPROVALS_VARIABLE = "HUBS_MIGRATION_APPROVALS"


@dataclass(frozen=True)
class Phase:
    number: int
    store: str  # postgres | graph | vectors | cache | timeline
    title: str
    does: str

    @property
    def job(self) -> str:
        return f"migrate_{self.number}_{self.store}"


PHASES = (
    Phase(1, "postgres", "PostgreSQL foundation", "extract the legacy system into the hub schemas (dbt mapping)"),
    Phase(2, "graph", "Graph replica", "derive the graph from the hubs"),
    Phase(3, "vectors", "Semantic search", "embed the hubs' text into Qdrant"),
    Phase(4, "cache", "Cache", "fill the Redis cache"),
    Phase(5, "timeline", "Temporal timeline", "write the hubs' history into Graphiti"),
)

GATES_DDL = """
create schema if not exists hubs_meta;
create table if not exists hubs_meta.migration_gates (
    gate_id bigserial primary key,
    phase integer not null check (phase between 1 and 5),
    run_id text,
    decision text not null check (decision in ('go', 'no-go', 'rolled-back')),
    reasons text[] not null default '{}',
    evidence jsonb not null default '{}',
    decided_at timestamptz not null default now(),
    approved_by text,
    approved_at timestamptz
);
comment on table hubs_meta.migration_gates is
    'Every migration gate decision (go / no-go) with its evidence, and who approved it.';
"""


def phase_note(run_id: str) -> str:
    """How a phase run's store generation is noted in the registry (its gate finds it so)."""
    return f"migration run {run_id}"


class PhaseBlocked(Exception):
    """A phase cannot start (or be approved); the message says what to do first."""


@dataclass(frozen=True)
class Gate:
    gate_id: int
    phase: int
    run_id: str | None
    decision: str
    reasons: list[str]
    evidence: dict[str, Any]
    decided_at: datetime
    approved_by: str | None
    approved_at: datetime | None

    @property
    def go(self) -> bool:
        return self.decision == "go"


def phase(number: int) -> Phase:
    if not 1 <= number <= len(PHASES):
        raise PhaseBlocked(f"there is no phase {number}: the phases are 1-{len(PHASES)} (`hubs migrate plan`)")
    return PHASES[number - 1]


def approvals_required(value: str | None = None) -> set[int]:
    """The phases whose go needs an operator's approval: HUBS_MIGRATION_APPROVALS, e.g. `1,2` or `all`."""
    raw = (os.environ.get(APPROVALS_VARIABLE, "") if value is None else value).strip().lower()
    if raw in ("", "none"):
        return set()
    if raw == "all":
        return {p.number for p in PHASES}
    numbers = set()
    for part in raw.split(","):
        if not part.strip().isdigit() or not 1 <= int(part) <= len(PHASES):
            raise PhaseBlocked(f"{APPROVALS_VARIABLE}={raw!r}: expected phase numbers 1-{len(PHASES)}, `all` or `none`")
        numbers.add(int(part))
    return numbers


def ensure_gates(conn: Connection) -> None:
    with conn.cursor() as cur:
        cur.execute(GATES_DDL)
    conn.commit()


def latest(conn: Connection, number: int) -> Gate | None:
    """The phase's latest gate decision, if it ever ran to its gate."""
    ensure_gates(conn)
    with conn.cursor() as cur:
        cur.execute(
            "select gate_id, phase, run_id, decision, reasons, evidence, decided_at, approved_by, approved_at"
            " from hubs_meta.migration_gates where phase = %s order by gate_id desc limit 1",
            (number,),
        )
        row = cur.fetchone()
    return Gate(*row) if row else None


def require_open(conn: Connection, number: int) -> None:
    """Raise PhaseBlocked unless phase `number` may start: the previous phase's gate is go (and
    approved when its approval is required)."""
    phase(number)
    if number == 1:
        return
    before = latest(conn, number - 1)
    if before is None:
        raise PhaseBlocked(
            f"phase {number} waits for phase {number - 1}'s gate: run `hubs migrate run {number - 1}` first"
        )
    if before.decision == "rolled-back":
        raise PhaseBlocked(f"phase {number - 1} was rolled back: run `hubs migrate run {number - 1}` again first")
    if not before.go:
        raise PhaseBlocked(
            f"phase {number - 1}'s gate is no-go ({'; '.join(before.reasons) or 'see hubs migrate report'}):"
            f" fix it and run `hubs migrate run {number - 1}` again"
        )
    if number - 1 in approvals_required() and before.approved_by is None:
        raise PhaseBlocked(
            f"phase {number - 1}'s gate is go but needs an operator's approval ({APPROVALS_VARIABLE}):"
            f" `hubs migrate approve {number - 1}`"
        )


def record(
    conn: Connection,
    number: int,
    run_id: str | None,
    reasons: list[str],
    evidence: dict[str, Any],
    decision: str | None = None,
) -> Gate:
    """Record a gate's decision: go when no reason stands against it (or `decision`: rolled-back)."""
    ensure_gates(conn)
    decision = decision or ("no-go" if reasons else "go")
    with conn.cursor() as cur:
        cur.execute(
            "insert into hubs_meta.migration_gates (phase, run_id, decision, reasons, evidence)"
            " values (%s, %s, %s, %s, %s) returning gate_id",
            (number, run_id, decision, reasons, json.dumps(evidence, default=str)),
        )
    conn.commit()
    gate = latest(conn, number)
    assert gate is not None
    return gate


def approve(conn: Connection, number: int, who: str) -> Gate:
    """An operator approves the phase's latest gate; only a go can be approved."""
    phase(number)
    gate = latest(conn, number)
    if gate is None or not gate.go:
        state = "has not run" if gate is None else "is no-go"
        raise PhaseBlocked(f"phase {number}'s gate {state}: only a go can be approved")
    with conn.cursor() as cur:
        cur.execute(
            "update hubs_meta.migration_gates set approved_by = %s, approved_at = now() where gate_id = %s",
            (who, gate.gate_id),
        )
    conn.commit()
    approved = latest(conn, number)
    assert approved is not None
    return approved


@dataclass(frozen=True)
class RolledBack:
    phase: int
    store: str
    generation: int  # now published
    seconds: float
    #: later phases rolled back with it (their stores had read what phase 1's rollback took back)
    followed: tuple[RolledBack, ...] = ()
    #: later phases' stores with no earlier generation to return to: they need `hubs rebuild`
    stale: tuple[str, ...] = ()

    def done_lines(self) -> list[str]:
        """What was rolled back, a line per phase (the CLI and the UI's job say the same)."""
        return [
            f"phase {step.phase} rolled back: the {step.store} store is generation {step.generation} again"
            f" ({step.seconds * 1000:.1f} ms)"
            for step in (self, *self.followed)
        ]

    def stale_lines(self) -> list[str]:
        """A warning per store that read what phase 1's rollback took back and has nothing to return to."""
        return [
            f"the {store} store read what phase 1's rollback took back and has no earlier generation:"
            f" `hubs rebuild {store}` (or `hubs migrate run` its phase again)"
            for store in self.stale
        ]


def _roll_back_store(conn: Connection, settings: Any, chosen: Phase) -> tuple[int, float]:
    from hubs.sync import publishing

    started = time.monotonic()
    generation = publishing.rollback(conn, settings, chosen.store)
    return generation, time.monotonic() - started


def _record_rolled_back(conn: Connection, chosen: Phase, generation: int, seconds: float, why: str) -> None:
    record(
        conn,
        chosen.number,
        None,
        [f"the {chosen.store} store is generation {generation} again{why}"],
        {"generation": generation, "rollback_seconds": round(seconds, 4)},
        decision="rolled-back",
    )


def roll_back(conn: Connection, settings: Any, number: int) -> RolledBack:
    """Phase `number`'s store returns to the generation published before the phase last published
    (a derived store: a pointer switch; the record: its copy restored in one transaction), so
    readers see the earlier answers at once; the phase's gate is recorded rolled-back, so the next
    phase waits until it runs again. Rolling back phase 1 also rolls back every later phase whose
    store read what the rollback took back from the record."""
    from hubs.sync import generations, record_generation
    from hubs.sync.generations import GenerationRefused

    chosen = phase(number)
    try:
        generation, seconds = _roll_back_store(conn, settings, chosen)
    except GenerationRefused as exc:
        raise PhaseBlocked(f"phase {number} cannot be rolled back: {exc}") from None
    _record_rolled_back(conn, chosen, generation, seconds, "")
    followed: list[RolledBack] = []
    stale: list[str] = []
    if chosen.store == record_generation.STORE:
        for later in PHASES[1:]:
            while record_generation.ahead(conn, later.store, generations.published(conn, later.store)):
                try:
                    back, took = _roll_back_store(conn, settings, later)
                except GenerationRefused:
                    stale.append(later.store)
                    break
                _record_rolled_back(conn, later, back, took, " (rolled back with phase 1)")
                followed.append(RolledBack(later.number, later.store, back, took))
            conn.commit()
    return RolledBack(number, chosen.store, generation, seconds, tuple(followed), tuple(stale))
