"""Start the real platform (web over ASGI, Celery workers, training and inference services) for tests.

Each run gets free ports, its own folder (SQLite database, media, logs) and its
own Redis database number, and stops every process it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from platform_web.core.launcher import Child, Supervisor, celery_worker_argv, free_port, plan_children

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunningPlatform:
    url: str
    trainer_url: str
    trainer_token: str
    var_dir: Path
    env: dict[str, str]
    supervisor: Supervisor

    def child(self, name: str) -> Child:
        return next(c for c in self.supervisor.children if c.name == name)

    def restart(self, name: str, timeout: float = 120) -> None:
        """Start a (killed) child again with the same command line."""
        old = self.child(name)
        self.supervisor.children.remove(old)
        fresh = Child(old.name, old.argv, old.health)
        self.supervisor.start(fresh)
        if fresh.health:
            self.supervisor.wait_healthy(fresh, timeout, lambda: False)

    def manage(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run `manage.py <args>` against this platform."""
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip


def start_platform(var_dir: Path, redis_url: str, extra_env: dict[str, str] | None = None,
                   worker_concurrency: int = 2, timeout: float = 180) -> RunningPlatform:  # fmt: skip
    """Migrate a fresh database under `var_dir`, start every process, wait for /healthz 200."""
    host = "127.0.0.1"
    web_port, trainer_port, inference_port = free_port(host), free_port(host), free_port(host)
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "platform_web.settings",
            "VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'platform.sqlite3'}",
            "MEDIA_ROOT": str(var_dir / "media"),
            "REDIS_URL": redis_url,
            "TRAINER_URL": f"http://{host}:{trainer_port}",
            "INFERENCE_URL": f"http://{host}:{inference_port}",
            "TRAINER_TOKEN": "test-token",
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
        }
    )
    env.pop("CELERY_BROKER_URL", None)
    env.update(extra_env or {})
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=180)  # fmt: skip
    supervisor = Supervisor(var_dir / "logs", env)
    children = plan_children(python=sys.executable, web_port=web_port, trainer_port=trainer_port,
                             inference_port=inference_port, host=host, worker_concurrency=worker_concurrency)  # fmt: skip
    try:
        for child in children:
            supervisor.start(child)
        for child in children:
            if child.health:
                supervisor.wait_healthy(child, timeout, lambda: False)
    except BaseException:
        supervisor.stop_all()
        raise
    return RunningPlatform(f"http://{host}:{web_port}", env["TRAINER_URL"], "test-token", var_dir, env, supervisor)


@dataclass
class RunningPair:
    """A worker + trainer pair beside a platform: what a GPU host adds (docs/deploy.md)."""

    name: str
    trainer_url: str
    env: dict[str, str]
    supervisor: Supervisor

    def stop(self) -> None:
        self.supervisor.stop_all()


def start_pair(platform: RunningPlatform, name: str, extra_env: dict[str, str] | None = None,
               concurrency: int = 1, timeout: float = 180) -> RunningPair:  # fmt: skip
    """Start one more training service and a Celery worker (training queue) that sends its trials there.

    The pair shares the platform's database and broker and, unless `extra_env` says otherwise
    (TRAINER_DATA_DIR, TRAINER_PLATFORM_URL, ...), its folders. Stop it with `pair.stop()`.
    """
    host = "127.0.0.1"
    port = free_port(host)
    env = dict(platform.env, TRAINER_URL=f"http://{host}:{port}")
    env.update(extra_env or {})
    supervisor = Supervisor(platform.var_dir / f"logs-{name}", env)
    trainer = Child(
        f"trainer-{name}",
        [sys.executable, "-m", "uvicorn", "trainer_api.app:app", "--host", host, "--port", str(port)],
        health=f"http://{host}:{port}/v1/health",
    )
    worker = Child(f"worker-{name}", celery_worker_argv(sys.executable, f"worker-{name}", "training", concurrency))
    try:
        supervisor.start(trainer)
        supervisor.wait_healthy(trainer, timeout, lambda: False)
        supervisor.start(worker)
    except BaseException:
        supervisor.stop_all()
        raise
    return RunningPair(name, env["TRAINER_URL"], env, supervisor)


def wait_for(predicate, timeout: float, interval: float = 0.3, message: str = "condition"):
    """Poll `predicate()` until it returns a truthy value; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def get_json(url: str, **kwargs):
    return httpx.get(url, timeout=10, **kwargs).json()
