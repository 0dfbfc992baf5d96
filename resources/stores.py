"""The derived stores as Dagster resources: one per store kind, showing where its server is
and whether it answers (the stores themselves are opened by the sync engine, hubs.sync.stores)."""

from __future__ import annotations

from dagster import ConfigurableResource

from hubs import settings as hubs_settings
from hubs.sync.kinds import kind


class StoreResource(ConfigurableResource):
    """A derived store (graph, cache, vectors, timeline): its production server when its variable
    is set, else the embedded one."""

    kind: str

    def describe(self) -> str:
        return kind(self.kind).location(hubs_settings.load())

    def ping(self) -> str:
        return kind(self.kind).ping(hubs_settings.load())
