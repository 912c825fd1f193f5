"""`python manage.py gpu_pair`: one GPU's trainer and its study worker, supervised together.

What a GPU host runs once per GPU (compose's `gpu` service, `docker-compose up --scale gpu=N`):
the training service (`uvicorn trainer_api.app:app`) and one Celery worker on the `training`
queue whose TRAINER_URL is that trainer, started once the trainer answers its health check.
A child that dies is started again (the Supervisor of `manage.py up`); SIGTERM or Ctrl-C stops
both. It starts no web app and no Redis and migrates nothing: the main host owns those.

With `--gpu-lock-dir` (compose: a volume every pair container of a host shares) and no
CUDA_VISIBLE_DEVICES of its own, the pair takes the first of the host's GPUs no other pair
holds (a lock file per GPU, held while it runs) and pins both children to it: Docker gives every
`--scale`d container the same GPU reservation, so the containers share the GPUs out themselves.

`--check` is the pair's health check: exit 0 when the trainer answers /v1/health and the
pair's own Celery node answers a ping, else 1 with what failed.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import sys
from pathlib import Path
from typing import IO

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand

from platform_web.celery import app
from platform_web.core.launcher import (
    LaunchError,
    StopSignals,
    Supervisor,
    local_url,
    pair_node_name,
    plan_pair,
    port_is_free,
    tend_until_stopped,
)


def gpu_count() -> int:
    """The GPUs this host (or container) sees: GPU_COUNT, else its /dev/nvidiaN device files."""
    if os.environ.get("GPU_COUNT"):
        return int(os.environ["GPU_COUNT"])
    return sum(1 for p in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name))


def claim_gpu(lock_dir: Path, count: int) -> tuple[int, IO] | None:
    """The first of `count` GPUs that no other pair holds, locked until the returned file is closed (or we exit)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(lock_dir / f"gpu-{index}.lock", "a+")  # noqa: SIM115 (held for the pair's life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.truncate(0)
        handle.write(f"{socket.gethostname()} pid {os.getpid()}\n")
        handle.flush()
        return index, handle
    return None


def pin_to_a_free_gpu(env: dict[str, str], lock_dir: Path, say) -> IO | None:
    """Set CUDA_VISIBLE_DEVICES in `env` to a GPU no other pair of this host holds; the lock to keep open."""
    if env.get("CUDA_VISIBLE_DEVICES"):
        say(f"GPU: CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']} (set, so no GPU is claimed)")
        return None
    count = gpu_count()
    if count == 0:
        say("GPU: no /dev/nvidiaN device here (and no GPU_COUNT); the trainer uses TRAINER_DEVICE as it is")
        return None
    claimed = claim_gpu(lock_dir, count)
    if claimed is None:
        raise LaunchError(f"all {count} GPUs of this host are held by other pairs: run at most {count} pairs here")
    index, lock = claimed
    env["CUDA_VISIBLE_DEVICES"] = str(index)
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # the numbering nvidia-smi shows
    say(f"GPU: claimed GPU {index} of {count} (CUDA_VISIBLE_DEVICES={index})")
    return lock


def run_pair(*, trainer_host: str, trainer_port: int, concurrency: int, timeout: float,
             gpu_lock_dir: Path | None = None, say=print) -> int:  # fmt: skip
    """Start the trainer, wait for its health, start the worker; tend both until SIGTERM. Returns an exit code."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "platform_web.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env["TRAINER_URL"] = local_url(trainer_host, trainer_port)  # the worker's trials go to this trainer only
    log_dir = settings.VAR_DIR / "logs" / f"gpu-{trainer_port}"
    supervisor = Supervisor(log_dir, env)
    stop = StopSignals()
    gpu_lock = None
    try:
        if gpu_lock_dir is not None:
            gpu_lock = pin_to_a_free_gpu(env, gpu_lock_dir, say)
        if not port_is_free(trainer_host, trainer_port):
            raise LaunchError(f"Port {trainer_port} for the trainer is in use: is a pair already running on it?")
        trainer, worker = plan_pair(python=sys.executable, trainer_host=trainer_host, trainer_port=trainer_port,
                                    worker_concurrency=concurrency)  # fmt: skip
        supervisor.start(trainer)
        say(f"started trainer (pid {trainer.process.pid}), log: {log_dir / 'trainer.log'}")
        supervisor.wait_healthy(trainer, timeout, lambda: stop.requested)
        if stop.requested:
            return 130
        supervisor.start(worker)
        say(f"started worker (pid {worker.process.pid}), log: {log_dir / 'worker.log'}")
        say(
            f"The GPU pair is up: trainer {env['TRAINER_URL']}, Celery node {pair_node_name(trainer_port)} "
            f"on the training queue with {concurrency} study slot(s)."
        )
        return tend_until_stopped(supervisor, stop, say)
    except LaunchError as e:
        say(f"Could not start the GPU pair: {e}")
        return 1
    finally:
        say("Stopping...")
        supervisor.stop_all()
        stop.restore()
        if gpu_lock is not None:
            gpu_lock.close()  # the GPU is free for another pair
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
        parser.add_argument(
            "--gpu-lock-dir",
            default=os.environ.get("GPU_LOCK_DIR", ""),
            help="folder shared by the pairs of this host: take a GPU no other pair holds (default GPU_LOCK_DIR)",
        )
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
            gpu_lock_dir=Path(options["gpu_lock_dir"]) if options["gpu_lock_dir"] else None,
            say=lambda message: (self.stdout.write(message), self.stdout.flush()),
        )
        raise SystemExit(code)
