"""`python manage.py gpu_pair`: one GPU's trainer and its study worker, supervised together.

What a GPU host runs once per GPU (compose's `gpu` service, `docker-compose up --scale gpu=N`):
the training service (`uvicorn trainer_api.app:app`) and one Celery worker on the `training`
queue whose TRAINER_URL is that trainer, started once the trainer answers its health check.
A child that dies is started again (the Supervisor of `manage.py up`); SIGTERM or Ctrl-C stops
both. It starts no web app and no Redis and migrates nothing: the main host owns those.

`--check` is the pair's health check: exit 0 when the trainer answers /v1/health and the
pair's own Celery node answers a ping, else 1 with what failed.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand

from platform_web.celery import app
from platform_web.core.launcher import LaunchError, Supervisor, local_url, pair_node_name, plan_pair, port_is_free


def run_pair(*, trainer_host: str, trainer_port: int, concurrency: int, timeout: float, say=print) -> int:
    """Start the trainer, wait for its health, start the worker; tend both until SIGTERM. Returns an exit code."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "platform_web.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env["TRAINER_URL"] = local_url(trainer_host, trainer_port)  # the worker's trials go to this trainer only
    log_dir = settings.VAR_DIR / "logs" / f"gpu-{trainer_port}"
    supervisor = Supervisor(log_dir, env)
    stop_requested = False

    def request_stop(signum, frame):  # noqa: ARG001
        nonlocal stop_requested
        stop_requested = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if not port_is_free(trainer_host, trainer_port):
            raise LaunchError(f"Port {trainer_port} for the trainer is in use: is a pair already running on it?")
        trainer, worker = plan_pair(python=sys.executable, trainer_host=trainer_host, trainer_port=trainer_port,
                                    worker_concurrency=concurrency)  # fmt: skip
        supervisor.start(trainer)
        say(f"started trainer (pid {trainer.process.pid}), log: {log_dir / 'trainer.log'}")
        supervisor.wait_healthy(trainer, timeout, lambda: stop_requested)
        if stop_requested:
            return 130
        supervisor.start(worker)
        say(f"started worker (pid {worker.process.pid}), log: {log_dir / 'worker.log'}")
        say(
            f"The GPU pair is up: trainer {env['TRAINER_URL']}, Celery node {pair_node_name(trainer_port)} "
            f"on the training queue with {concurrency} study slot(s)."
        )
        while not stop_requested:
            supervisor.tend(say)
            time.sleep(0.2)
        return 0
    except LaunchError as e:
        say(f"Could not start the GPU pair: {e}")
        return 1
    finally:
        say("Stopping...")
        supervisor.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("Stopped.")


def check_pair(*, trainer_host: str, trainer_port: int, timeout: float = 5.0) -> list[str]:
    """What is wrong with the pair on this host ([] when the trainer and the worker both answer)."""
    problems = []
    url = f"{local_url(trainer_host, trainer_port)}/v1/health"
    try:
        response = httpx.get(url, timeout=timeout)
        if response.status_code != 200:
            problems.append(f"trainer: {url} answered HTTP {response.status_code}")
    except httpx.HTTPError as e:
        problems.append(f"trainer: {url} did not answer ({type(e).__name__})")
    node = pair_node_name(trainer_port)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            replies = app.control.ping(destination=[node], timeout=timeout, connection=connection)
        if not replies:
            problems.append(f"worker: Celery node {node} did not answer a ping")
    except Exception as e:  # noqa: BLE001 - any broker failure makes the pair unhealthy, reported
        problems.append(f"worker: could not ping {node} through the broker ({type(e).__name__}: {e})")
    return problems


class Command(BaseCommand):
    help = (
        "Start one GPU's training service and its Celery worker (training queue) and keep them running; "
        "--check: exit 0 when both answer."
    )

    def add_arguments(self, parser):
        # 127.0.0.1 by default: on bare metal only the worker beside it needs the trainer. Compose binds
        # 0.0.0.0 (the container's own interface) so the web app reaches it as http://gpu:8001.
        parser.add_argument("--trainer-host", default=os.environ.get("TRAINER_HOST", "127.0.0.1"))
        parser.add_argument("--trainer-port", type=int, default=int(os.environ.get("TRAINER_PORT", "8001")))
        parser.add_argument(
            "--concurrency",
            type=int,
            default=int(os.environ.get("WORKER_CONCURRENCY", "1")),
            help="study slots of the worker (default WORKER_CONCURRENCY or 1: one trial per GPU)",
        )
        parser.add_argument("--start-timeout", type=float, default=float(os.environ.get("START_TIMEOUT", "180")))
        parser.add_argument("--check", action="store_true", help="health check: exit 0 when trainer and worker answer")

    def handle(self, *args, **options):
        if options["check"]:
            problems = check_pair(trainer_host=options["trainer_host"], trainer_port=options["trainer_port"])
            for problem in problems:
                self.stderr.write(problem)
            if not problems:
                self.stdout.write(f"ok: trainer and Celery node {pair_node_name(options['trainer_port'])} answer")
            raise SystemExit(1 if problems else 0)
        code = run_pair(
            trainer_host=options["trainer_host"],
            trainer_port=options["trainer_port"],
            concurrency=options["concurrency"],
            timeout=options["start_timeout"],
            say=lambda message: (self.stdout.write(message), self.stdout.flush()),
        )
        raise SystemExit(code)
