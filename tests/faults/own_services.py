"""A Redis and a PostgreSQL server of the test's own, on free ports, that a fault test can kill and start again.

The shared servers on this machine serve every other test; restarting one of
them mid-study would break those. These run from the same binaries, keep their
data in a temporary folder, and are stopped (and the folder removed) at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from platform_web.core.launcher import free_port

HOST = "127.0.0.1"


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - not up yet; keep the last reason for the message
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{what} did not come up in {timeout:.0f} s (last error: {last!r})")


class OwnRedis:
    """redis-server with an append-only file synced on every write (as compose runs it), so a restart loses nothing."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port(HOST)
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout: float = 30) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", HOST, "--dir", str(self.folder),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"]  # fmt: skip
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - the server's output, closed with the file table
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: redis.Redis.from_url(self.url, socket_connect_timeout=1).ping(), timeout, "redis-server")

    def kill(self) -> None:
        """SIGKILL: what a crash or the OOM killer does (the append-only file has every acknowledged write)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class OwnPostgres:
    """A PostgreSQL cluster made with initdb, run as the `postgres` user when the tests run as root."""

    def __init__(self) -> None:
        self.port = free_port(HOST)
        self.folder = Path(tempfile.mkdtemp(prefix="fault-pg-"))
        self.data = self.folder / "data"
        self._as_postgres = os.geteuid() == 0

    @staticmethod
    def binary(name: str) -> str | None:
        found = shutil.which(name)
        if found:
            return found
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
            return str(candidate)
        return None

    @classmethod
    def available(cls) -> bool:
        if cls.binary("initdb") is None or cls.binary("pg_ctl") is None:
            return False
        if os.geteuid() == 0:
            return subprocess.run(["id", "postgres"], capture_output=True).returncode == 0
        return True

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = list(argv)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(self.binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self, timeout: float = 60) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses={HOST} -c fsync=off -c max_connections=60"
        self._run(self.binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "pg.log"),
                  "-w", "-t", str(int(timeout)), "start")  # fmt: skip
        _wait(lambda: psycopg.connect(self.url, connect_timeout=2).close() or True, timeout, "PostgreSQL")

    def stop(self, mode: str = "immediate") -> None:
        """`immediate` drops every connection at once, as a crash does (recovery replays the WAL at start)."""
        if (self.data / "postmaster.pid").exists():
            self._run(self.binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except AssertionError:
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)
