"""The outputs of a refresh that builds only some hub models, in an order Dagster accepts.

A model dbt did not build still yields its output, marked unchanged: the stores downstream of
the hub models run in the same step for any entity, and Dagster skips a step when an output it
reads is missing. Outputs of one step must come parents first, and dbt reports its models as
they finish, so each unchanged model is yielded just before the first built model below it (or
at the end), and never before a built model above it. A model below one whose build failed is
not yielded, as dbt would have skipped it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from graphlib import TopologicalSorter
from typing import Any

from dagster import AssetExecutionContext, Output

from hub_assets.dbt.translator import HubsDbtTranslator

UNCHANGED_KEY = "hubs/dbt"
UNCHANGED = "not built: no rows landed for it since its last build"


class BuildOrder:
    def __init__(self, context: AssetExecutionContext, manifest: Mapping[str, Any]) -> None:
        translator = HubsDbtTranslator()
        assets_def = context.assets_def
        self._output: dict[str, str] = {}
        for uid, node in manifest["nodes"].items():
            if node["resource_type"] != "model":
                continue
            key = translator.get_asset_key(node)
            if key in assets_def.keys:
                self._output[uid] = assets_def.get_output_name_for_asset_key(key)
        self._uid = {name: uid for uid, name in self._output.items()}
        self._parents = {
            uid: tuple(p for p in manifest["nodes"][uid]["depends_on"]["nodes"] if p in self._output)
            for uid in self._output
        }
        self._order = list(TopologicalSorter(self._parents).static_order())
        self._built: frozenset[str] = frozenset()
        self._done: set[str] = set()

    def built(self, uids: list[str]) -> None:
        """The models dbt builds this run (the rest are unchanged)."""
        self._built = frozenset(uids)

    @cache  # noqa: B019 - one instance per run, a few hundred models
    def _ancestors(self, uid: str) -> frozenset[str]:
        found: set[str] = set()
        for parent in self._parents[uid]:
            found |= {parent, *self._ancestors(parent)}
        return frozenset(found)

    def _ready(self, uid: str) -> bool:
        return uid not in self._built and uid not in self._done and (self._ancestors(uid) & self._built) <= self._done

    def _unchanged(self, uid: str) -> Output:
        self._done.add(uid)
        return Output(None, output_name=self._output[uid], metadata={UNCHANGED_KEY: UNCHANGED})

    def unchanged_before(self, output_name: str) -> Iterator[Output]:
        """The unchanged models above the built one about to be yielded."""
        uid = self._uid.get(output_name)
        if uid is None:
            return
        above = self._ancestors(uid)
        for candidate in self._order:
            if candidate in above and self._ready(candidate):
                yield self._unchanged(candidate)
        self._done.add(uid)

    def unchanged_rest(self) -> Iterator[Output]:
        """Every unchanged model not yet yielded whose built ancestors were all built."""
        for uid in self._order:
            if self._ready(uid):
                yield self._unchanged(uid)
