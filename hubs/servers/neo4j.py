"""Neo4j Community 5.26 (LTS) as an embedded server, for tests and CI of the graph code.

There is no Neo4j wheel and no Docker here, so scripts/neo4j holds a tiny Java launcher of an
embedded Neo4j DBMS, built with Maven from Maven Central. The first build fills ~/.m2 and
scripts/neo4j/target/ (classes plus every runtime jar); after that the server starts offline
with `java -cp target/classes:target/dependency/* hubs.neo4j.Launcher`. Bolt listens on
127.0.0.1 only, with authentication off: a loopback test server, never a shared one.

Build it ahead of time (CI does, so no test pays for the download):

    python -m hubs.servers.neo4j build
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import neo4j
from neo4j.exceptions import DriverError, Neo4jError

from hubs import settings as hubs_settings
from hubs.servers.base import EmbeddedServer, ServerError, tail
from hubs.settings import PROJECT_ROOT

LAUNCHER_DIR = PROJECT_ROOT / "scripts" / "neo4j"
MAIN_CLASS = "hubs.neo4j.Launcher"
# Written last by a successful build; holds the digest of the sources it was built from, so an
# interrupted build or a changed pom.xml (a Neo4j version bump, say) triggers a fresh build.
STAMP_NAME = "hubs-build.stamp"
MAVEN_TIMEOUT_S = 1800  # a first build downloads ~130 MB of jars
MIN_JAVA = 17  # Neo4j 5.26 runs on Java 17 and 21

# A modest JVM: the machine (2 cores) also runs PostgreSQL, Redis and the tests. The page cache
# (off-heap, HUBS_NEO4J_PAGE_CACHE_MB) is set by the launcher. The --add-opens and Netty flags
# are those of Neo4j's own neo4j.conf; without them the page cache and transaction logs fall back to slower
# paths and fill debug.log with warnings.
JVM_OPTIONS = [
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",  # exit (a clear failure) rather than limp on after an OOM
    "-XX:-OmitStackTraceInFastThrow",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
]


def target_dir(source_dir: Path = LAUNCHER_DIR) -> Path:
    return source_dir / "target"


def classpath(source_dir: Path = LAUNCHER_DIR) -> str:
    target = target_dir(source_dir)
    # `dir/*` is expanded by java itself (every jar in the folder), not by a shell.
    return f"{target / 'classes'}{os.pathsep}{target / 'dependency' / '*'}"


def java_executable() -> str:
    """JAVA_HOME's java when set (as Maven does), else the one on PATH; "java" when neither exists."""
    java_home = os.environ.get("JAVA_HOME", "").strip()
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return shutil.which("java") or "java"


def _require_java() -> str:
    java = java_executable()
    if shutil.which(java) is None:
        raise ServerError(
            f"java is not installed (neither $JAVA_HOME/bin/java nor java on PATH): Neo4j {MIN_JAVA}+ "
            f"needs a Java {MIN_JAVA} or 21 runtime. Install one, e.g. `apt-get install openjdk-17-jdk-headless`."
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if match is None:
        raise ServerError(f"{java} -version gave no version:\n{result.stderr.strip()}")
    major = int(match.group(2)) if match.group(1) == "1" else int(match.group(1))  # "1.8.0" is Java 8
    if major < MIN_JAVA:
        raise ServerError(f"{java} is Java {major}; Neo4j 5.26 needs Java {MIN_JAVA} or 21 (set JAVA_HOME).")
    return java


def _require_maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServerError(
            "mvn (Apache Maven) is not installed: it builds the Neo4j launcher in "
            f"{LAUNCHER_DIR.relative_to(PROJECT_ROOT)} from Maven Central. "
            "Install it, e.g. `apt-get install maven`."
        )
    return mvn


def _sources_digest(source_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([source_dir / "pom.xml", *(source_dir / "src").rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(source_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_built(source_dir: Path = LAUNCHER_DIR) -> bool:
    """True when target/ holds a complete build of the current sources."""
    stamp = target_dir(source_dir) / STAMP_NAME
    return stamp.is_file() and stamp.read_text().strip() == _sources_digest(source_dir)


def build(source_dir: Path = LAUNCHER_DIR, force: bool = False) -> Path:
    """Build the launcher unless target/ is up to date; returns the target folder.

    Raises ServerError naming what is missing (java, mvn) or with the end of Maven's output.
    """
    _require_java()
    pom = source_dir / "pom.xml"
    if not pom.is_file():
        raise ServerError(f"no {pom}: the Neo4j launcher sources are missing")
    target = target_dir(source_dir)
    # Two processes (CI's build step and a test, parallel test runs) may build at once: the
    # lock on pom.xml (which every build has) lets one build while the other waits and reuses it.
    with pom.open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_built(source_dir):
            return target
        mvn = _require_maven()
        # Start clean: copy-dependencies only adds jars, so an old build would leave jars of
        # another Neo4j version on the class path.
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        log_path = target / "maven-build.log"
        command = [mvn, "-B", "-ntp", "-f", str(pom), "compile", "dependency:copy-dependencies"]
        with log_path.open("w") as log:
            try:
                result = subprocess.run(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=MAVEN_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise ServerError(
                    f"Maven did not finish building the Neo4j launcher within {MAVEN_TIMEOUT_S} s. "
                    f"Last lines of {log_path}:\n{tail(log_path, 30)}"
                ) from exc
        if result.returncode != 0:
            raise ServerError(
                f"Maven failed to build the Neo4j launcher (exit code {result.returncode}): "
                f"`{' '.join(command)}`. Last lines of {log_path}:\n{tail(log_path, 30)}"
            )
        missing = [p for p in (target / "classes", target / "dependency") if not p.is_dir()]
        if missing:
            raise ServerError(f"Maven succeeded but did not produce {', '.join(map(str, missing))}; see {log_path}")
        (target / STAMP_NAME).write_text(_sources_digest(source_dir) + "\n")
    return target


class Neo4jServer(EmbeddedServer):
    """Neo4j Community 5.26 on bolt://127.0.0.1:<port>, data in HUBS_HOME/neo4j, no auth."""

    name = "neo4j"
    port_variable = "HUBS_NEO4J_PORT"
    # A first start creates the system and neo4j databases (~10 s here); a loaded CI machine
    # may take several times that.
    start_timeout_s = 90.0
    # A clean stop checkpoints every database: 1-3 s here; more time before a kill costs nothing.
    stop_timeout_s = 60.0

    @property
    def page_cache_mb(self) -> int:
        # a replica of tens of millions of rows reads its store through this cache
        return hubs_settings.megabytes("HUBS_NEO4J_PAGE_CACHE_MB", hubs_settings.NEO4J_PAGE_CACHE_MB)

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            java_executable(),
            *JVM_OPTIONS,
            "-cp",
            classpath(),
            MAIN_CLASS,
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
            "--pagecache-mb",
            str(self.page_cache_mb),
        ]

    def prepare(self) -> None:
        super().prepare()
        build()

    def is_ready(self) -> bool:
        try:
            with (
                neo4j.GraphDatabase.driver(self.url, auth=None, connection_timeout=1) as driver,
                driver.session() as session,
            ):
                # A query, not only a connection: the default database must be online too.
                session.run("RETURN 1").consume()
        except (DriverError, Neo4jError, OSError):
            return False
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hubs.servers.neo4j", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build the Neo4j launcher (scripts/neo4j/target) with Maven")
    build_parser.add_argument("--force", action="store_true", help="rebuild even when target/ is up to date")
    commands.add_parser("start", help="start Neo4j on HUBS_NEO4J_PORT under HUBS_HOME/neo4j (builds first)")
    commands.add_parser("stop", help="stop the Neo4j started by `start`")
    args = parser.parse_args(argv)
    if args.command in ("start", "stop"):
        settings = hubs_settings.load()
        server = Neo4jServer(settings, hubs_settings.port("HUBS_NEO4J_PORT", "neo4j"))
        try:
            if args.command == "start":
                server.start()
                print(f"Neo4j runs at {server.url}: export HUBS_NEO4J_URI={server.url} to put the graph there")
            else:
                print("Neo4j stopped" if server.stop() else "Neo4j was not running")
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "build":
        started = time.monotonic()
        try:
            target = build(force=args.force)
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"Neo4j launcher ready in {target} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
