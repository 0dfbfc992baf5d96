"""Failpoints: named places where the fault-injection tests make this process die.

`HUBS_FAILPOINT=<name>@<n>` makes the n-th pass through `failpoint(<name>)` kill the process
with SIGKILL (n defaults to 1): no cleanup, no `finally`, exactly what `kill -9` does, at a point
chosen precisely instead of by timing. Unset (always, outside tests) it costs one dictionary
lookup. The names in use: `land.file` (after each landed file), `dbt.event` (after each dbt
event), `sync.<store>.written` (a chunk is in the store, its watermark not yet moved).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

VARIABLE = "HUBS_FAILPOINT"
_passes: Counter[str] = Counter()


def failpoint(name: str) -> None:
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    target, _, nth = spec.partition("@")
    if target != name:
        return
    _passes[name] += 1
    if _passes[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
