"""PostgreSQL, the system of record."""

from __future__ import annotations

import psycopg2.extensions
from dagster import ConfigurableResource

from hubs import settings as hubs_settings
from hubs.catalog import load_catalog
from hubs.db import connect
from hubs.landing.schema import ensure_landing, ensure_landing_current
from hubs.servers import ensure_running
from hubs.settings import Settings, redact


class PostgresResource(ConfigurableResource):
    """HUBS_POSTGRES_URL, or the embedded PostgreSQL under HUBS_HOME."""

    def settings(self) -> Settings:
        return hubs_settings.load()

    def ensure_ready(self, force: bool = False) -> Settings:
        """Start the embedded server if it stands in, and make the landing tables if the catalog
        changed since they were last made (or always, with `force`)."""
        self.connect(force=force).close()
        return self.settings()

    def connect(self, force: bool = False) -> psycopg2.extensions.connection:
        """A connection, the server started and the landing schema current. The landing DDL runs
        only when the catalog's fingerprint differs from the one recorded when it last ran: one
        cheap read otherwise (it locks every landing table, so it must not run on every step,
        check and sensor tick)."""
        settings = self.settings()
        if settings.postgres_url is None:
            ensure_running(settings, ["postgres"])
        conn = connect(settings)
        try:
            if force:
                with conn, conn.cursor() as cur:
                    ensure_landing(cur, load_catalog())
            else:
                ensure_landing_current(conn, load_catalog())
        except BaseException:
            conn.close()
            raise
        return conn

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
