"""A real training service (`uvicorn trainer_api.app:app`) in a subprocess on a free port, for try-it tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from platform_web.core.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "models-test-token"


class TrainerService:
    """Start with `start()`, stop with `stop()`; serves models from `data_dir`."""

    def __init__(self, folder: Path) -> None:
        self.data_dir = folder / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "uvicorn.log"
        self.process: subprocess.Popen | None = None
        env = dict(os.environ, TRAINER_DATA_DIR=str(self.data_dir), TRAINER_CACHE_DIR=str(folder / "cache"),
                   TRAINER_TOKEN=TOKEN, TRAINER_DEVICE="cpu", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")  # fmt: skip
        self.env = env

    def start(self, timeout: float = 90) -> None:
        argv = [sys.executable, "-m", "uvicorn", "trainer_api.app:app", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"uvicorn exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"uvicorn did not answer in {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
