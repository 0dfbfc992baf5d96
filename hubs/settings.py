"""Where everything lives, read once from the environment.

Every store is reached through one URL variable. When a variable is unset the platform uses
its own embedded server under HUBS_HOME, which `hubs up` (or the first command that needs it)
starts. Nothing here opens a connection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hubs.secrets import redact

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# Default loopback ports of the embedded servers; chosen away from the usual 5432/6379 so a
# developer's own servers keep theirs.
DEFAULT_PORTS = {"postgres": 55432, "cache": 56379, "graph": 56380, "neo4j": 57687}
EMBEDDED_DATABASE = "hubs"
# The generated legacy system (`hubs generate --legacy`) lives beside the hubs on their server
# unless HUBS_LEGACY_URL names another.
LEGACY_DATABASE = "legacy"

# the local Neo4j's page cache: small, as the tests' servers share two cores and the memory
NEO4J_PAGE_CACHE_MB = 256

# (variable, meaning) pairs; the README's table of variables is checked against this list.
ENVIRONMENT = [
    ("HUBS_HOME", "data folder of the embedded servers, landing inbox and Dagster instance"),
    ("HUBS_POSTGRES_URL", "PostgreSQL system of record; unset = embedded server"),
    ("HUBS_REDIS_URL", "Redis cache; unset = embedded redis-server"),
    ("HUBS_FALKORDB_URL", "FalkorDB graph server; unset = embedded FalkorDB"),
    ("HUBS_NEO4J_URI", "Neo4j Bolt URI; when set the graph lives in Neo4j instead of FalkorDB"),
    ("HUBS_NEO4J_USER", "Neo4j user (default neo4j)"),
    ("HUBS_NEO4J_PASSWORD", "Neo4j password"),
    ("HUBS_QDRANT_URL", "Qdrant server; unset = qdrant-client local mode under HUBS_HOME"),
    ("HUBS_DAGSTER_POSTGRES_URL", "Dagster run/event storage in PostgreSQL; unset = SQLite"),
    ("HUBS_LEGACY_URL", "legacy system `hubs migrate` extracts from; unset = database `legacy` beside the hubs"),
    ("HUBS_MIGRATION_APPROVALS", "migration phases whose go needs `hubs migrate approve N` (e.g. `1,2` or `all`)"),
    ("HUBS_POSTGRES_PORT", "port of the embedded PostgreSQL (default 55432)"),
    ("HUBS_REDIS_PORT", "port of the embedded Redis cache (default 56379)"),
    ("HUBS_FALKORDB_PORT", "port of the embedded FalkorDB graph (default 56380)"),
    ("HUBS_DBT_THREADS", "dbt threads (default 4)"),
    ("HUBS_NEO4J_PORT", "Bolt port of the local Neo4j (`python -m hubs.servers.neo4j start`; default 57687)"),
    (
        "HUBS_NEO4J_PAGE_CACHE_MB",
        f"page cache of the local Neo4j in MB (default {NEO4J_PAGE_CACHE_MB}; a large replica wants more)",
    ),
    ("OPENAI_API_KEY", "embed with OpenAI text-embedding-3-small (1536-d); unset = the offline model"),
    ("OPENAI_BASE_URL", "OpenAI-compatible endpoint (a proxy); unset = api.openai.com"),
    ("HUBS_EMBEDDER", "force the embedder: offline | openai (default: openai when OPENAI_API_KEY is set)"),
    ("HUBS_API_TOKEN", "bearer token `hubs serve` requires (required off loopback; unset = open on loopback)"),
    ("HUBS_FAILPOINT", "tests only: `<name>@<n>` kills the process at the n-th pass of a failpoint (hubs/faults.py)"),
]


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def megabytes(name: str, default: int) -> int:
    """The size variable `name` in MB, or `default`."""
    raw = _env(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise ValueError(f"{name}={raw!r} is not a size in MB (a whole number, e.g. 4096)")
    return int(raw)


def port(name: str, server: str) -> int:
    """The port variable `name`, or the server's default."""
    raw = _env(name)
    if raw is None:
        return DEFAULT_PORTS[server]
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError(f"{name}={raw!r} is not a TCP port number")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    home: Path
    postgres_url: str | None
    redis_url: str | None
    falkordb_url: str | None
    neo4j_uri: str | None
    neo4j_user: str
    neo4j_password: str | None
    qdrant_url: str | None
    dagster_postgres_url: str | None
    postgres_port: int
    redis_port: int
    falkordb_port: int
    dbt_threads: int
    legacy_url: str | None = None

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def inbox_dir(self) -> Path:
        """Files dropped here are landed by the inbox sensor (or `hubs load`)."""
        return self.home / "inbox"

    @property
    def dagster_dir(self) -> Path:
        return self.home / "dagster"

    @property
    def effective_postgres_url(self) -> str:
        return self.postgres_url or (f"postgresql://postgres@127.0.0.1:{self.postgres_port}/{EMBEDDED_DATABASE}")

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def effective_falkordb_url(self) -> str:
        return self.falkordb_url or f"redis://127.0.0.1:{self.falkordb_port}"

    @property
    def effective_legacy_url(self) -> str:
        if self.legacy_url:
            return self.legacy_url
        parts = urlsplit(self.effective_postgres_url)
        return urlunsplit(parts._replace(path=f"/{LEGACY_DATABASE}"))

    def embedded_servers_needed(self) -> list[str]:
        """Names of the embedded servers that stand in for unset URLs."""
        needed = []
        if self.postgres_url is None:
            needed.append("postgres")
        if self.redis_url is None:
            needed.append("cache")
        if self.falkordb_url is None and self.neo4j_uri is None:
            needed.append("graph")
        return needed


def in_effect(settings: Settings) -> dict[str, str]:
    """What the platform uses for each variable left unset (`hubs env` shows it): every variable
    of ENVIRONMENT has an entry, so no value in effect is ever left unsaid."""
    return {
        "HUBS_HOME": str(settings.home),
        "HUBS_POSTGRES_URL": f"{settings.effective_postgres_url} (embedded)",
        "HUBS_REDIS_URL": f"{settings.effective_redis_url} (embedded)",
        "HUBS_FALKORDB_URL": (
            "(unused: the graph is in Neo4j)" if settings.neo4j_uri else f"{settings.effective_falkordb_url} (embedded)"
        ),
        "HUBS_NEO4J_URI": "(unset: the graph is in FalkorDB)",
        "HUBS_NEO4J_USER": settings.neo4j_user,
        "HUBS_NEO4J_PASSWORD": "(unset: no password)" if settings.neo4j_uri else "(unused: the graph is in FalkorDB)",
        "HUBS_QDRANT_URL": f"local mode at {settings.home / 'qdrant'}",
        "HUBS_DAGSTER_POSTGRES_URL": f"SQLite under {settings.dagster_dir}",
        "HUBS_LEGACY_URL": redact(settings.effective_legacy_url),
        "HUBS_MIGRATION_APPROVALS": "(unset: a go opens the next phase without an approval)",
        "HUBS_POSTGRES_PORT": str(settings.postgres_port),
        "HUBS_REDIS_PORT": str(settings.redis_port),
        "HUBS_FALKORDB_PORT": str(settings.falkordb_port),
        "HUBS_DBT_THREADS": str(settings.dbt_threads),
        "HUBS_NEO4J_PORT": str(DEFAULT_PORTS["neo4j"]),
        "HUBS_NEO4J_PAGE_CACHE_MB": str(NEO4J_PAGE_CACHE_MB),
        "OPENAI_API_KEY": "(unset: embeddings from the offline wordllama model)",
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
        "HUBS_EMBEDDER": "openai" if _env("OPENAI_API_KEY") else "offline",
        "HUBS_API_TOKEN": "(unset: `hubs serve` answers without a token on loopback, refuses other addresses)",
        "HUBS_FAILPOINT": "(none: nothing is killed on purpose)",
    }


def load() -> Settings:
    home = Path(_env("HUBS_HOME") or PROJECT_ROOT / ".hubs").expanduser().resolve()
    return Settings(
        home=home,
        postgres_url=_env("HUBS_POSTGRES_URL"),
        redis_url=_env("HUBS_REDIS_URL"),
        falkordb_url=_env("HUBS_FALKORDB_URL"),
        neo4j_uri=_env("HUBS_NEO4J_URI"),
        neo4j_user=_env("HUBS_NEO4J_USER") or "neo4j",
        neo4j_password=_env("HUBS_NEO4J_PASSWORD"),
        qdrant_url=_env("HUBS_QDRANT_URL"),
        dagster_postgres_url=_env("HUBS_DAGSTER_POSTGRES_URL"),
        postgres_port=port("HUBS_POSTGRES_PORT", "postgres"),
        redis_port=port("HUBS_REDIS_PORT", "cache"),
        falkordb_port=port("HUBS_FALKORDB_PORT", "graph"),
        dbt_threads=int(_env("HUBS_DBT_THREADS") or 4),
        legacy_url=_env("HUBS_LEGACY_URL"),
    )


__all__ = ["ENVIRONMENT", "Settings", "in_effect", "load", "port", "redact"]
