"""Consistency checks of the derived stores against PostgreSQL (G1-G10, X1-X4, T1-T5).

The package lists its check modules (each registers its checks with `hubs.checks.base.check` on
import); `base` knows none of them, so a new store's checks are a module added here.
"""

import re

from hubs.checks import cache, graph, temporal, timeline, vectors  # noqa: F401 - they register on import
from hubs.checks.base import REGISTRY, RegisteredCheck


def checks_of(store: str) -> list[RegisteredCheck]:
    """The checks that guard a store's asset, in their design order (G1 ... G10, T1 ... T5, X1 ... X4)."""
    return sorted((c for c in REGISTRY if c.store == store), key=_design_order)


def _design_order(check: RegisteredCheck) -> tuple[int, str, int]:
    found = re.match(r"([A-Z])(\d+)_", check.name)
    if found is None:
        return (1, check.name, 0)
    return (0, found[1].translate(_SERIES), int(found[2]))


_SERIES = str.maketrans("GTX", "abc")  # graph, temporal, then cross-store checks


__all__ = ["checks_of"]
