"""Builders for the service tests: a tiny generated dataset, trial bodies, a real uvicorn process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from platform_web.core.launcher import free_port
from tests.trainer_api.dataset_builder import make_dataset_dir

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "service-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_dataset(root: Path, per_class: int = 12, size: int = 16) -> Path:
    """A ready dataset folder (manifest.json + files/) of two easy classes: bright and dark noisy squares."""
    return make_dataset_dir(root, classes=["bright", "dark"], per_class=per_class, size=size, kind="bright_dark")


def trial_body(key: str, dataset: Path, **config) -> dict:
    """A POST /v1/trials body for simple_cnn at 16 px; `config` overrides any field."""
    values = {"architecture": "simple_cnn", "input_size": 16, "batch_size": 8, "epochs": 2, "augment": False,
              "learning_rate": 0.01, "diverge_check_epochs": 0, "seed": 0}  # fmt: skip
    values.update(config)
    return {"key": key, "dataset_path": str(dataset), "config": values}


def wait_for(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate()` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


class TrainerProcess:
    """`uvicorn trainer_api.app:app` in a subprocess on a free port, with its own data and cache folders."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = folder / "uvicorn.log"

    def start(self, timeout: float = 90) -> None:
        env = dict(os.environ, TRAINER_DATA_DIR=str(self.folder / "data"), TRAINER_CACHE_DIR=str(self.folder / "cache"),
                   TRAINER_TOKEN=TOKEN, TRAINER_DEVICE="cpu", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONUNBUFFERED="1")  # fmt: skip
        argv = [sys.executable, "-m", "uvicorn", "trainer_api.app:app", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"uvicorn exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"uvicorn did not answer in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as when the machine loses power or the OOM killer strikes."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
