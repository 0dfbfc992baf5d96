"""Life cycle of one embedded server process: start, wait until ready, status, stop.

Each server keeps its data in HUBS_HOME/<name>/, logs to HUBS_HOME/logs/<name>.log and
records its PID and port in HUBS_HOME/run/<name>.json. Servers run in their own session so
they outlive the command that started them (a Dagster run worker, say) and stop only on
`hubs down`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

from hubs.settings import Settings


class ServerError(RuntimeError):
    """A server could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    running: bool
    pid: int | None
    port: int
    url: str
    data_dir: Path
    log_file: Path


def tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return "(no log written)"
    with path.open(errors="replace") as handle:
        return "".join(deque(handle, maxlen=lines)).rstrip() or "(log is empty)"


def port_owner(port: int) -> psutil.Process | None:
    """The process listening on a loopback port, when it can be seen."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return psutil.Process(conn.pid)
    except (psutil.Error, OSError):
        pass
    return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _default_stop_signals() -> None:
    """In the server's process before it execs: SIGTERM, SIGINT and SIGHUP stop it by default,
    whatever the parent ignores. An ignored signal stays ignored across exec: a shell runs a
    background command with SIGINT ignored, Dagster then maps SIGTERM to SIGINT's handler, and a
    JVM started with SIGTERM ignored never runs its shutdown hook, so `stop` had to kill Neo4j
    and left its store needing recovery."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


class EmbeddedServer(ABC):
    """One server process managed through a PID/state file."""

    name: str
    port_variable: str
    start_timeout_s: float = 30.0

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port

    @property
    def data_dir(self) -> Path:
        return self.settings.home / self.name

    @property
    def log_file(self) -> Path:
        return self.settings.home / "logs" / f"{self.name}.log"

    @property
    def state_file(self) -> Path:
        return self.settings.run_dir / f"{self.name}.json"

    @property
    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def command(self) -> list[str]:
        """The server's command line."""

    @abstractmethod
    def is_ready(self) -> bool:
        """True once the server answers requests."""

    def prepare(self) -> None:
        """Create the data folder (and initialise it) before the first start."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def after_start(self) -> None:  # noqa: B027 - optional hook, most servers need nothing
        """Work done once the server answers (create a database, say)."""

    def loading(self) -> str | None:
        """What the server says while it loads its data before it can answer (None otherwise)."""
        return None

    def run_as_user(self) -> str | None:
        return None

    # -- state ------------------------------------------------------------------------------

    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def running_pid(self) -> int | None:
        """PID of our live server process, or None (a stale state file is removed)."""
        state = self._read_state()
        if not state:
            return None
        pid = int(state["pid"])
        try:
            proc = psutil.Process(pid)
            alive = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
            ours = alive and Path(proc.exe()).name == Path(self.command()[0]).name
            # A pid is reused once its process is gone: another server of the same program (another
            # HUBS_HOME's, a test's) is not ours to stop or kill. Ours started when we wrote the file.
            started = state.get("started_at")
            ours = ours and (started is None or abs(proc.create_time() - float(started)) < 10)
        except psutil.Error:
            ours = False
        if not ours:
            self.state_file.unlink(missing_ok=True)
            return None
        return pid

    def status(self) -> ServerStatus:
        pid = self.running_pid()
        return ServerStatus(self.name, pid is not None, pid, self.port, self.url, self.data_dir, self.log_file)

    # -- start / stop -----------------------------------------------------------------------

    def start(self) -> bool:
        """Start the server unless it runs already. Returns True if it was started now."""
        pid = self.running_pid()
        if pid is not None:
            state = self._read_state() or {}
            if state.get("port") != self.port:
                raise ServerError(
                    f"{self.name} already runs on port {state.get('port')} (pid {pid}), but "
                    f"{self.port_variable} asks for {self.port}: run `hubs down` first."
                )
            while self.loading() is not None:  # started by another process, still loading its data
                time.sleep(0.2)
            return False
        if not port_is_free(self.port):
            raise ServerError(self._port_taken_message())
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.run_as_user(),
                cwd=self.data_dir,
                preexec_fn=_default_stop_signals,
            )
        self.state_file.write_text(json.dumps({"pid": proc.pid, "port": self.port, "started_at": time.time()}))
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.loading() is not None:
                # Replaying a large append-only file takes as long as it takes; it is progress.
                deadline = time.monotonic() + self.start_timeout_s
            if proc.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise ServerError(
                    f"{self.name} exited with code {proc.returncode} while starting. "
                    f"Last lines of {self.log_file}:\n{tail(self.log_file)}"
                )
            if self.is_ready():
                try:
                    self.after_start()
                except Exception as exc:
                    self._terminate(proc.pid)
                    self.state_file.unlink(missing_ok=True)
                    raise ServerError(f"{self.name} started but could not be set up: {exc}") from exc
                return True
            time.sleep(0.1)
        self._terminate(proc.pid)
        raise ServerError(
            f"{self.name} did not answer within {self.start_timeout_s:.0f} s. "
            f"Last lines of {self.log_file}:\n{tail(self.log_file)}"
        )

    def _port_taken_message(self) -> str:
        owner = port_owner(self.port)
        try:
            ours = owner is not None and Path(owner.cwd()) == self.data_dir
            who = f"pid {owner.pid} ({' '.join(owner.cmdline()[:3])})" if owner else "another process"
        except psutil.Error:
            ours, who = False, f"pid {owner.pid}" if owner else "another process"
        if ours:
            return (
                f"cannot start {self.name}: an earlier {self.name} of this data folder ({who}) still listens on "
                f"port {self.port}, but its state file is gone (was {self.settings.run_dir} deleted?). "
                f"Stop it with `kill {owner.pid}`, then try again."
            )
        return (
            f"cannot start {self.name}: port {self.port} is taken by {who}. "
            f"Stop that process or choose another port with {self.port_variable}=<port>."
        )

    stop_signal: signal.Signals = signal.SIGTERM
    # How long a clean stop may take before the server is killed.
    stop_timeout_s: float = 20.0

    def stop(self) -> bool:
        """Stop the server and every process it forked. Returns True if one was running."""
        pid = self.running_pid()
        if pid is None:
            return False
        self._terminate(pid)
        self.state_file.unlink(missing_ok=True)
        return True

    def _terminate(self, pid: int) -> None:
        try:
            parent = psutil.Process(pid)
            family = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, self.stop_signal)
        _, alive = psutil.wait_procs(family, timeout=self.stop_timeout_s)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
