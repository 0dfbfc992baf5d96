"""Qdrant, semantic search over the hubs' text."""

from __future__ import annotations

from dagster import ConfigurableResource

from hubs import settings as hubs_settings
from hubs.secrets import connection_error
from hubs.settings import redact


class VectorResource(ConfigurableResource):
    """HUBS_QDRANT_URL, else qdrant-client's local mode on disk under HUBS_HOME/qdrant."""

    def describe(self) -> str:
        settings = hubs_settings.load()
        return redact(settings.qdrant_url) if settings.qdrant_url else f"local mode at {settings.home / 'qdrant'}"

    def ping(self) -> str:
        settings = hubs_settings.load()
        if not settings.qdrant_url:
            return "qdrant-client local mode (no server)"
        from qdrant_client import QdrantClient

        try:
            client = QdrantClient(url=settings.qdrant_url, timeout=3)
            return f"Qdrant ({len(client.get_collections().collections)} collections)"
        except Exception as exc:  # httpx, grpc and qdrant's own errors alike
            raise connection_error("Qdrant (vectors)", settings.qdrant_url, exc) from None
