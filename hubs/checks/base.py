"""What every store check shares: where it looks, what it reports, and the registry the
Dagster asset checks and the CLI are built from.

A check reads PostgreSQL (the truth) and one or more derived stores and returns an outcome
with counts and the offending keys (a sample), never raising for a mismatch: only a store that
cannot be reached is an error.

A check that found nothing to ask (no known key, no version, an empty entity) has not shown that
the store is right, so it does not pass: it warns, saying how many questions it asked and why
none (or not all) could be asked. A problem still fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog
from hubs.settings import Settings

SAMPLE = 20

ERROR = "error"
WARN = "warn"  # asked nothing (or not all it should): not a pass, not a failure
ASKED_NOTHING = "asked_nothing"  # the note (and metadata entry) saying what went unasked, and why


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    offending: list[str] = field(default_factory=list)
    #: how bad a result that did not pass is: ERROR (a problem found) or WARN (nothing asked)
    severity: str = ERROR
    #: text beside the counts, e.g. why nothing could be asked
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def warned(self) -> bool:
        return not self.passed and self.severity == WARN

    @classmethod
    def from_problems(
        cls, name: str, problems: list[str], summary: str, unasked: list[str] | None = None, **counts: int
    ) -> CheckOutcome:
        """Passed when there are no problems and everything the check is for could be asked;
        `unasked` says what could not be asked and why (then it warns). Keeps a sample of the
        problems."""
        counts = {**counts, "problems": len(problems)}
        if problems:
            return cls(name, False, f"{summary}: {len(problems)} problem(s)", counts, problems[:SAMPLE])
        if unasked:
            return cls.asked_nothing(name, summary, unasked, **counts)
        return cls(name, True, summary, counts)

    @classmethod
    def asked_nothing(cls, name: str, summary: str, why: list[str], **counts: int) -> CheckOutcome:
        """A warning: what the check could not ask, and why."""
        reasons = "; ".join(why)
        asked = counts.get("asked", 0)
        told = "asked nothing" if not asked else f"asked {asked} question(s) but not all"
        return cls(
            name,
            False,
            f"{summary}: {told}: {reasons}",
            {**counts, "asked": asked},
            severity=WARN,
            notes={ASKED_NOTHING: reasons},
        )

    def metadata(self) -> dict[str, int | str]:
        """What a report shows beside the verdict: the counts, the notes, the offending sample."""
        shown: dict[str, int | str] = {**self.counts, **self.notes}
        if self.offending:
            shown["offending"] = "\n".join(f"- {line}" for line in self.offending)
        return shown


class CheckContext:
    """PostgreSQL and the derived stores, opened on first use and closed together."""

    def __init__(
        self,
        conn: Connection,
        catalog: Catalog,
        settings: Settings,
        generations: dict[str, int] | None = None,
        full: bool = True,
    ) -> None:
        self.conn = conn
        self.catalog = catalog
        self.settings = settings
        #: every row (gates, audits, tests) or, where a check allows it, only the rows changed since
        #: it last passed (a refresh's checks: hubs/checks/scope.py)
        self.full = full
        #: the generation to judge per store (a migration gate judges the one its phase built);
        #: the published one for the others
        self.generations = dict(generations or {})
        self._stores: dict[str, Any] = {}
        #: what one check computes and others of the same run reuse (e.g. the expected edges)
        self.memo: dict[str, Any] = {}

    def store(self, kind: str) -> Any:
        from hubs.sync.stores import open_store

        if kind not in self._stores:
            self._stores[kind] = open_store(kind, self.settings, self.catalog, self.generations.get(kind))
        return self._stores[kind]

    @property
    def graph(self) -> Any:
        """The replica's GraphDialect (FalkorDB or Neo4j)."""
        return self.store("graph").dialect

    def sql(self, statement: str, params: tuple | dict = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
        self.conn.rollback()  # checks only read; end the snapshot
        return rows

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()


CheckFunction = Callable[[CheckContext], CheckOutcome]


@dataclass(frozen=True)
class RegisteredCheck:
    store: str  # the store whose asset the check guards: graph | cache | vectors | timeline
    name: str  # e.g. G1_node_counts
    description: str
    run: CheckFunction

    def outcome(self, ctx: CheckContext) -> CheckOutcome:
        """The check's outcome; a store it cannot reach makes it fail, saying so."""
        from hubs.sync.engine import StoreUnavailable

        try:
            return self.run(ctx)
        except StoreUnavailable as exc:
            return CheckOutcome(self.name, False, f"store unavailable: {exc}")


REGISTRY: list[RegisteredCheck] = []


def check(store: str, name: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check of `store`; its docstring's first line is its description."""

    def register(function: CheckFunction) -> CheckFunction:
        description = (function.__doc__ or name).strip().splitlines()[0]
        REGISTRY.append(RegisteredCheck(store, name, description, function))
        return function

    return register
