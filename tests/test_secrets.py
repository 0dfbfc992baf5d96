"""Secrets never reach output. A PostgreSQL role whose password holds every character a URL
must %-encode is reached through one encoded URL by the loader and by dbt under Dagster; the
CLI's output, the Dagster event log and every file under HUBS_HOME are searched for the
password (and an API key, and the Neo4j password) in each spelling a tool might print."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg2.extensions
import pytest
import yaml
from dagster import AssetKey, AssetSelection, job, op
from dagster._serdes import serialize_value

from hubs.secrets import _spellings, redact
from hubs.settings import DBT_PROJECT_DIR
from tests.conftest import admin
from tests.helpers import scalar

HUBS = [sys.executable, "-m", "hubs.cli"]
ROLE = f"hubs_secret_{os.getpid()}"
PASSWORD = "Sp3c@l:pw/Zx9%é'q\"\\"  # @ : / % a non-ASCII letter, quotes, a backslash
WRONG_PASSWORD = "Wr0ng@pass:word/x"
API_KEY = "sk-test-9f8e7d6c5b4a"
NEO4J_PASSWORD = "n3o-S3cret-pw"
SECRETS = [PASSWORD, WRONG_PASSWORD, API_KEY, NEO4J_PASSWORD]
ENTITY_FILE = "hub2_openhaul.lanes.csv"  # no parents and no validation reading other tables: builds alone


def encoded_url(server: str, database: str, password: str = PASSWORD, query: str = "") -> str:
    host = server.split("@", 1)[1]
    return f"postgresql://{ROLE}:{quote(password, safe='')}@{host}/{database}{query}"


def spellings() -> set[str]:
    found: set[str] = set()
    for secret in SECRETS:
        found |= _spellings(secret) | _spellings(quote(secret, safe=""))
    return found


def assert_no_secret(text: str, where: str) -> None:
    leaked = sorted(s for s in spellings() if s in text)
    assert not leaked, f"{where} shows {leaked}"


@pytest.fixture(scope="module")
def secret_server(postgres_server: str, hubs_home: Path) -> Iterator[str]:
    """The session's server with a role that really needs its password (the embedded server
    trusts loopback: a first pg_hba.conf line asks this role for it) and a database it owns."""
    database = f"secret_{os.getpid()}"
    hba = hubs_home / "postgres" / "pgdata" / "pg_hba.conf"
    original = hba.read_text()
    conn = psycopg2.connect(f"{postgres_server}/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"create role {ROLE} login superuser password %s", (PASSWORD,))
        cur.execute(f"create database {database} owner {ROLE}")
        hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n{original}")
        cur.execute("select pg_reload_conf()")
    try:
        yield database
    finally:
        hba.write_text(original)
        with conn.cursor() as cur:
            cur.execute("select pg_reload_conf()")
        conn.close()
        admin(postgres_server, f"drop database if exists {database} with (force)")
        admin(postgres_server, f"drop role if exists {ROLE}")


@pytest.fixture(scope="module")
def secret_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("secret-home")


@pytest.fixture
def secret_env(
    postgres_server: str, secret_server: str, secret_home: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of a CLI run with secrets set (the test's own process gets it too)."""
    for name, value in {
        "HUBS_HOME": str(secret_home),
        "HUBS_POSTGRES_URL": encoded_url(postgres_server, secret_server),
        "OPENAI_API_KEY": API_KEY,
        "HUBS_EMBEDDER": "offline",
        "HUBS_NEO4J_PASSWORD": NEO4J_PASSWORD,
        "DBT_TARGET_PATH": str(secret_home / "dbt-target"),
    }.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


def hubs(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*HUBS, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert_no_secret(result.stdout + result.stderr, f"`hubs {' '.join(args)}`")
    return result


def test_env_shows_values_in_effect_with_secrets_masked(secret_env: dict[str, str]) -> None:
    shown = {line.split()[0]: line.split()[1] for line in hubs(secret_env, "env").stdout.splitlines()}
    assert shown["HUBS_POSTGRES_URL"] == redact(secret_env["HUBS_POSTGRES_URL"])
    assert f"{ROLE}:***@" in shown["HUBS_POSTGRES_URL"]
    assert shown["OPENAI_API_KEY"] == shown["HUBS_NEO4J_PASSWORD"] == "***"
    assert shown["HUBS_REDIS_URL"].startswith("redis://127.0.0.1:")  # unset: the embedded server's


def test_a_malformed_url_is_named_without_its_password(
    postgres_server: str, secret_server: str, secret_env: dict[str, str]
) -> None:
    broken = encoded_url(postgres_server, secret_server).replace("%40", "%4", 1)  # not a %-escape
    status = hubs({**secret_env, "HUBS_POSTGRES_URL": broken}, "status")
    assert f"cannot connect to PostgreSQL (system of record) at postgresql://{ROLE}:***@" in status.stdout
    assert "invalid percent-encoded token" in status.stdout
    assert broken.split(":")[2].split("@")[0] not in status.stdout  # the malformed password itself


def test_a_wrong_password_fails_the_landing_step_naming_the_server(
    postgres_server: str, secret_server: str, secret_env: dict[str, str], generated: tuple[Path, dict]
) -> None:
    env = {**secret_env, "HUBS_POSTGRES_URL": encoded_url(postgres_server, secret_server, WRONG_PASSWORD)}
    result = hubs(env, "load", str(generated[0] / ENTITY_FILE))
    assert result.returncode == 1
    [failure] = [line for line in result.stdout.splitlines() if "failed step:" in line]
    assert (
        f"land_files: ConnectionFailed: cannot connect to PostgreSQL (system of record) at postgresql://{ROLE}:***@"
        in failure
    )
    assert "password authentication failed" in failure


def test_one_encoded_url_lands_and_builds_and_no_secret_is_written_anywhere(
    secret_server: str, secret_env: dict[str, str], secret_home: Path, generated: tuple[Path, dict]
) -> None:
    from hub_assets.definitions import defs
    from hub_assets.instance import hubs_instance

    landed = hubs(secret_env, "load", str(generated[0] / ENTITY_FILE))
    assert landed.returncode == 0, landed.stdout[-3000:]
    # dbt under Dagster, through the refresh job, for the entity and what it needs.
    hub = AssetKey(["hub2_openhaul", "lanes"])
    selection = AssetSelection.assets(hub).upstream().resolve(defs.resolve_asset_graph())
    with hubs_instance() as instance:
        result = defs.resolve_job_def("refresh").execute_in_process(
            instance=instance,
            asset_selection=sorted(selection),
            run_config={"ops": {"land_files": {"config": {"path": str(generated[0] / ENTITY_FILE)}}}},
            raise_on_error=False,
        )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert scalar(secret_env["HUBS_POSTGRES_URL"], "select count(*) from hub2_openhaul.lanes") > 0
    for path in [p for p in secret_home.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        leaked = sorted(s for s in spellings() if s.encode() in data)
        assert not leaked, f"{path} holds {leaked}"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://hubs:{quote(PASSWORD, safe='')}@127.0.0.1:5432/hubs?sslmode=disable",
        "postgresql://u%40x:p:w%3A@h%41st/d%2Fb?connect_timeout=3&password=over%26",
        "postgres://u@[::1]:6000/db?sslmode=require&application_name=x",
        "postgresql://only-host",
        "postgresql://u:@h:99/",
    ],
)
def test_the_dbt_profile_reads_the_url_as_libpq_does(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    monkeypatch.setenv("HUBS_POSTGRES_URL", url)
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "os-user")
    set_invocation_context(os.environ)
    raw = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["hubs"]
    _, profile = Profile.render_profile(raw, "hubs", None, ProfileRenderer({}))
    libpq = psycopg2.extensions.parse_dsn(url)
    assert profile["user"] == libpq.get("user", "os-user")
    assert profile["password"] == libpq.get("password", "")
    assert profile["host"] == libpq.get("host", "localhost")
    assert profile["port"] == int(libpq.get("port", 5432))
    assert profile["dbname"] == libpq.get("dbname", profile["user"])
    assert profile["sslmode"] == libpq.get("sslmode", "prefer")
    assert profile["connect_timeout"] == int(libpq.get("connect_timeout", 10))


def test_nothing_logged_or_raised_reaches_the_event_log_with_a_secret(
    secret_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    from hub_assets.instance import hubs_instance  # every process with the platform's instance scrubs

    url = secret_env["HUBS_POSTGRES_URL"]
    with caplog.at_level(logging.INFO):
        logging.getLogger("hubs.test").info("connecting to %s with key %s", url, API_KEY)
    assert_no_secret(caplog.text, "a Python log record")

    @op
    def talks(context) -> None:  # unannotated: under `from __future__ import annotations` Dagster sees a string
        context.log.info(f"password {PASSWORD} in {url}")
        raise RuntimeError(f"a library quoting {API_KEY} and {url}")

    @job
    def chatty() -> None:
        talks()

    with hubs_instance() as instance:
        result = chatty.execute_in_process(instance=instance, raise_on_error=False)
        events = instance.all_logs(result.run_id)
    assert "password *** in postgresql://" in "\n".join(entry.user_message for entry in events)
    assert_no_secret("\n".join(serialize_value(entry) for entry in events), "Dagster's event log")
