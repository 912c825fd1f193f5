"""The real ASGI server (the platform's web command) for the live-page browser tests: its own SQLite database and Redis database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from platform_web.core.launcher import free_port, web_server_argv

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WebServer:
    url: str
    env: dict[str, str]
    process: subprocess.Popen
    log: Path
    players: list[subprocess.Popen] = field(default_factory=list)

    def seed(self, **order) -> dict:
        """Run tests.live.seed_study against this server's database; its JSON answer."""
        done = subprocess.run([sys.executable, "-m", "tests.live.seed_study", json.dumps(order)], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def play(self, **order) -> subprocess.Popen:
        """Start a worker-like process that records one trial's events (see seed_study.play_trial)."""
        player = subprocess.Popen([sys.executable, "-m", "tests.live.seed_study", json.dumps({"action": "play", **order})],
                                  cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.players.append(player)
        return player

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(f"{self.url}/accounts/login/", timeout=2)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the web server did not start: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.2)

    def kill(self) -> None:
        """Stop the web server only (a deploy or a crash); the database and Redis stay."""
        self.process.terminate()
        self.process.wait(timeout=15)

    def restart(self) -> None:
        """Start the web server again on the same port."""
        port = int(self.url.rsplit(":", 1)[1])
        self.process = _spawn(port, self.env, self.log)
        self.wait_ready()

    def stop(self) -> None:
        for process in [*self.players, self.process]:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)


def start_web_server(var_dir: Path, redis_url: str, timeout: float = 60) -> WebServer:
    """Migrate a fresh database under `var_dir` and serve platform_web.asgi on a free loopback port."""
    port = free_port()
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "platform_web.settings", "VAR_DIR": str(var_dir),
        "DATABASE_URL": f"sqlite:///{var_dir / 'platform.sqlite3'}", "MEDIA_ROOT": str(var_dir / "media"),
        "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "LOG_LEVEL": "WARNING",
    })  # fmt: skip
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    server = WebServer(f"http://127.0.0.1:{port}", env, _spawn(port, env, var_dir / "web.log"), var_dir / "web.log")
    server.wait_ready(timeout)
    return server


def _spawn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(web_server_argv(sys.executable, "127.0.0.1", port), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=log.open("a"))  # fmt: skip
