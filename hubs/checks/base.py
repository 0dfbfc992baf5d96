"""What every store check shares: where it looks, what it reports, and the registry the
Dagster asset checks and the CLI are built from.

A check reads PostgreSQL (the truth) and one or more derived stores and returns an outcome
with counts and the offending keys (a sample), never raising for a mismatch: only a store that
cannot be reached is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg2.extensions import connection as Connection

from hubs.catalog import Catalog
from hubs.settings import Settings

SAMPLE = 20


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    summary: str
    counts: dict[str, int] = field(default_factory=dict)
    offending: list[str] = field(default_factory=list)

    @classmethod
    def from_problems(cls, name: str, problems: list[str], summary: str, **counts: int) -> CheckOutcome:
        """Passed when there are no problems; keeps a sample of them."""
        return cls(
            name,
            not problems,
            summary if not problems else f"{summary}: {len(problems)} problem(s)",
            {**counts, "problems": len(problems)},
            problems[:SAMPLE],
        )


class CheckContext:
    """PostgreSQL and the derived stores, opened on first use and closed together."""

    def __init__(self, conn: Connection, catalog: Catalog, settings: Settings) -> None:
        self.conn = conn
        self.catalog = catalog
        self.settings = settings
        self._stores: dict[str, Any] = {}

    def store(self, kind: str) -> Any:
        from hubs.sync.stores import open_store

        if kind not in self._stores:
            self._stores[kind] = open_store(kind, self.settings, self.catalog)
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


REGISTRY: list[RegisteredCheck] = []


def check(store: str, name: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check of `store`; its docstring's first line is its description."""

    def register(function: CheckFunction) -> CheckFunction:
        description = (function.__doc__ or name).strip().splitlines()[0]
        REGISTRY.append(RegisteredCheck(store, name, description, function))
        return function

    return register


def checks_of(store: str) -> list[RegisteredCheck]:
    import hubs.checks.cache
    import hubs.checks.graph
    import hubs.checks.temporal
    import hubs.checks.timeline
    import hubs.checks.vectors  # noqa: F401 - registration happens on import

    return [c for c in REGISTRY if c.store == store]
