"""PostgreSQL, the system of record."""

from __future__ import annotations

import psycopg2.extensions
from dagster import ConfigurableResource

from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.db import connect
from hubs.landing.schema import ensure_landing
from hubs.servers import ensure_running
from hubs.settings import Settings, redact


class PostgresResource(ConfigurableResource):
    """HUBS_POSTGRES_URL, or the embedded PostgreSQL under HUBS_HOME."""

    def settings(self) -> Settings:
        return hubs_settings.load()

    def ensure_ready(self) -> Settings:
        """Start the embedded server if it stands in, and create the landing tables."""
        settings = self.settings()
        if settings.postgres_url is None:
            ensure_running(settings, ["postgres"])
        conn = connect(settings)
        try:
            with conn, conn.cursor() as cur:
                ensure_landing(cur, load_catalog())
        finally:
            conn.close()
        return settings

    def connect(self) -> psycopg2.extensions.connection:
        return connect(self.ensure_ready())

    def describe(self) -> str:
        return redact(self.settings().effective_postgres_url)

    def ping(self) -> str:
        conn = connect(self.settings())
        try:
            with conn.cursor() as cur:
                cur.execute("show server_version")
                return f"PostgreSQL {cur.fetchone()[0]}"
        finally:
            conn.close()
