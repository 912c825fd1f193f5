"""`manage.py gpu_pair`, as compose's `gpu` service runs it: trainer + study worker, health-checked, restarted, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from platform_web.core.launcher import LaunchError, free_port, local_url, pair_node_name, plan_pair
from platform_web.core.management.commands.gpu_pair import claim_gpu, pin_to_a_free_gpu
from tests.up_process import UpProcess

ROOT = Path(__file__).resolve().parents[2]


def test_plan_pair_starts_the_trainer_first_and_one_training_worker_named_by_the_port():
    trainer, worker = plan_pair(python="py", trainer_host="0.0.0.0", trainer_port=8101, worker_concurrency=1)
    assert trainer.argv[1:] == ["-m", "uvicorn", "trainer_api.app:app", "--host", "0.0.0.0", "--port", "8101"]
    assert trainer.health == "http://127.0.0.1:8101/v1/health"  # all interfaces: reached on the loopback
    assert worker.argv[worker.argv.index("--queues") + 1] == "training"
    assert worker.argv[worker.argv.index("--concurrency") + 1] == "1"
    assert worker.argv[worker.argv.index("--hostname") + 1] == pair_node_name(8101)
    assert local_url("10.0.0.5", 8001) == "http://10.0.0.5:8001"


def test_scaled_pairs_of_one_host_share_its_gpus_out_one_each(tmp_path, monkeypatch):
    first, second = claim_gpu(tmp_path, 2), claim_gpu(tmp_path, 2)
    assert (first[0], second[0]) == (0, 1)
    assert claim_gpu(tmp_path, 2) is None  # a third pair finds both held
    first[1].close()  # a pair that stops (or dies) frees its GPU
    again = claim_gpu(tmp_path, 2)
    assert again[0] == 0

    monkeypatch.setenv("GPU_COUNT", "2")
    said = []
    with pytest.raises(LaunchError, match="all 2 GPUs of this host are held"):
        pin_to_a_free_gpu({}, tmp_path, said.append)
    again[1].close()
    env = {}
    lock = pin_to_a_free_gpu(env, tmp_path, said.append)
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert pin_to_a_free_gpu({"CUDA_VISIBLE_DEVICES": "1"}, tmp_path, said.append) is None  # pinned by hand
    lock.close()
    second[1].close()


class PairProcess(UpProcess):
    """`manage.py gpu_pair` on a free trainer port, against a migrated SQLite database and the test Redis."""

    def __init__(self, var_dir: Path, redis_url: str):  # not UpProcess.__init__: another command
        self.trainer_port = free_port()
        self.env = dict(os.environ, VAR_DIR=str(var_dir), DATABASE_URL=f"sqlite:///{var_dir / 'db.sqlite3'}",
                        MEDIA_ROOT=str(var_dir / "media"), REDIS_URL=redis_url, PYTHONUNBUFFERED="1",
                        TRAINER_TOKEN="test-token", OMP_NUM_THREADS="1", WORKER_CONCURRENCY="1",
                        GPU_LOCK_DIR=str(var_dir / "gpu-locks"), GPU_COUNT="1")  # fmt: skip
        self.env.pop("CUDA_VISIBLE_DEVICES", None)
        for name in ("TRAINER_URL", "INFERENCE_URL", "CELERY_BROKER_URL", "TRAINER_HOST", "TRAINER_PORT"):
            self.env.pop(name, None)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=self.env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "gpu_pair", "--trainer-port", str(self.trainer_port)],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.seen: dict[int, psutil.Process] = {}  # every descendant seen, killed at teardown

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "gpu_pair", "--check", "--trainer-port", str(self.trainer_port)],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def children(self) -> dict[str, psutil.Process]:
        """The pair's direct children by role."""
        found = {}
        self.seen.update({p.pid: p for p in psutil.Process(self.process.pid).children(recursive=True)})
        for child in psutil.Process(self.process.pid).children():
            line = " ".join(child.cmdline())
            found["trainer" if "trainer_api.app:app" in line else "worker" if " worker " in line else line] = child
        return found


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
def test_gpu_pair_runs_a_trainer_and_its_worker_restarts_a_dead_one_and_stops_both_on_sigterm(tmp_path, redis_url):
    pair = PairProcess(tmp_path, redis_url)
    try:
        pair.wait_for_line("The GPU pair is up", 180)
        health = httpx.get(f"http://127.0.0.1:{pair.trainer_port}/v1/health", timeout=10)
        assert health.status_code == 200
        wait_until(lambda: pair.check().returncode == 0, 90, "the pair's health check (trainer + Celery ping)")
        children = pair.children()
        assert set(children) == {"trainer", "worker"}, children  # no web, no Redis, nothing else
        worker_env = children["worker"].environ()
        assert worker_env["TRAINER_URL"] == f"http://127.0.0.1:{pair.trainer_port}"
        assert children["trainer"].environ()["CUDA_VISIBLE_DEVICES"] == "0"  # the one GPU it claimed
        assert claim_gpu(tmp_path / "gpu-locks", 1) is None  # held while the pair runs
        assert children["worker"].cmdline()[children["worker"].cmdline().index("--concurrency") + 1] == "1"
        assert "migrate" not in pair.output().lower()

        old_trainer = children["trainer"]
        old_trainer.kill()  # a dead child is started again, as `manage.py up` does
        pair.wait_for_line(r"^started trainer again", 30)
        wait_until(lambda: pair.check().returncode == 0, 120, "the restarted trainer's health")
        assert pair.children()["trainer"].pid != old_trainer.pid

        pair.children()
        descendants = list(pair.seen.values())
        pair.process.send_signal(signal.SIGTERM)  # what `docker stop` sends
        assert pair.process.wait(timeout=60) == 0
        time.sleep(0.5)
        alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"left running after SIGTERM: {[p.cmdline() for p in alive]}"
        pair.wait_for_line("Stopped.", 10)
        assert claim_gpu(tmp_path / "gpu-locks", 1) is not None  # given back
        failed = pair.check()
        assert failed.returncode == 1 and "trainer:" in failed.stderr and "worker:" in failed.stderr, failed.stderr
    finally:
        pair.kill()
        for process in pair.seen.values():
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
