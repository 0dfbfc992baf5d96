"""Consistency checks of the derived stores against PostgreSQL (G1-G10, X1-X4, T1-T5).

The package lists its check modules (each registers its checks with `hubs.checks.base.check` on
import); `base` knows none of them, so a new store's checks are a module added here.
"""

from hubs.checks import cache, graph, temporal, timeline, vectors  # noqa: F401 - they register on import
from hubs.checks.base import REGISTRY, RegisteredCheck


def checks_of(store: str) -> list[RegisteredCheck]:
    """The checks that guard a store's asset, in the order they were registered."""
    return [c for c in REGISTRY if c.store == store]


__all__ = ["checks_of"]
