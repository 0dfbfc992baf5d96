"""The Dagster instance lives under HUBS_HOME/dagster, whoever starts Dagster.

`dagster dev` run from the repo root reads ./dagster.yaml, which names the classes below; they
resolve their folders (or PostgreSQL, when HUBS_DAGSTER_POSTGRES_URL is set) from the same
settings as the rest of the platform. So run history and check results survive restarts of
the UI, and `hubs demo` writes its runs where the UI reads them.

Without DAGSTER_HOME, `dagster dev` announces a temporary directory "for storage" that it removes
on exit, and suggests DAGSTER_HOME to keep history. It still reads ./dagster.yaml (as the config
dir of that temporary instance, see dagster/_cli/utils.py), so the classes below keep everything
under HUBS_HOME; the line `announce_storage` logs right after says so.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData, deserialize_value, serialize_value

from hubs import settings as hubs_settings
from hubs.secrets import connection_error, install_log_scrubber, redact, scrub
from hubs.settings import PROJECT_ROOT

# Every Dagster process of the platform (the CLI's runs, `dagster dev`'s webserver, daemon, code
# server and run workers) builds its instance from this module, so this is where each of them
# starts keeping secrets out of its logs and of the event log (context.log writes there too).
install_log_scrubber()


def _dagster_dir() -> Path:
    path = hubs_settings.load().dagster_dir
    path.mkdir(parents=True, exist_ok=True)
    return path


def sqlalchemy_url(url: str) -> str:
    """dagster-postgres needs the psycopg2 dialect spelled out under SQLAlchemy 2.1."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def _scrubbed(event: EventLogEntry) -> EventLogEntry:
    """The event with every known secret masked: its message, a step's error, metadata."""
    text = serialize_value(event)
    clean = scrub(text)
    return event if clean == text else deserialize_value(clean, EventLogEntry)


def _scrubbing_events(storage: DagsterStorage) -> DagsterStorage:
    """The storage, its event log keeping no secret whatever a step raised or reported (log
    records are scrubbed already; an exception's message or a library's metadata may not be)."""
    events = storage.event_log_storage
    store_event, store_event_batch = events.store_event, events.store_event_batch
    events.store_event = lambda event: store_event(_scrubbed(event))
    events.store_event_batch = lambda batch: store_event_batch([_scrubbed(event) for event in batch])
    return storage


def _is_dagster_dev() -> bool:
    """This process is `dagster dev` itself (not the webserver, daemon or code server it starts)."""
    return Path(sys.argv[0]).name == "dagster" and sys.argv[1:2] == ["dev"]


def storage_description() -> str:
    url = hubs_settings.load().dagster_postgres_url
    return f"PostgreSQL at {redact(url)}" if url else str(_dagster_dir())


def announce_storage() -> None:
    """Say where `dagster dev` keeps run history, since its own words may suggest otherwise."""
    if not _is_dagster_dev():
        return
    message = (
        f"hubs: run history, event logs and check results are kept in {storage_description()} "
        "(./dagster.yaml) and survive restarts"
    )
    if not os.environ.get("DAGSTER_HOME"):
        message += "; the temporary directory above holds none of them, and DAGSTER_HOME need not be set"
    logging.getLogger("dagster").info(message)


class HubsStorage(DagsterStorage, ConfigurableClass):
    """Run, event and schedule storage: PostgreSQL when configured, else SQLite files."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> DagsterStorage:
        announce_storage()
        url = hubs_settings.load().dagster_postgres_url
        if url:
            from dagster_postgres import DagsterPostgresStorage

            try:
                storage = DagsterPostgresStorage(postgres_url=sqlalchemy_url(url), inst_data=inst_data)
            except Exception as exc:  # SQLAlchemy's and psycopg2's errors alike
                raise connection_error("PostgreSQL (Dagster run storage)", url, exc) from None
            return _scrubbing_events(storage)
        from hub_assets.sqlite_events import PooledSqliteStorage

        return _scrubbing_events(PooledSqliteStorage.from_local(str(_dagster_dir() / "storage"), inst_data=inst_data))


class HubsArtifactStorage(LocalArtifactStorage):
    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> LocalArtifactStorage:
        return LocalArtifactStorage(str(_dagster_dir()), inst_data=inst_data)


class HubsComputeLogManager(LocalComputeLogManager):
    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> LocalComputeLogManager:
        return LocalComputeLogManager(str(_dagster_dir() / "logs"), inst_data=inst_data)


def hubs_instance() -> DagsterInstance:
    """The instance `dagster dev` uses from the repo root, for in-process runs."""
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(_dagster_dir()), config_dir=str(PROJECT_ROOT)))
