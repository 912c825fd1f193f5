"""A real training service (`uvicorn trainer_api.app:app`) or inference service in a subprocess on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from platform_web.core.launcher import free_port

ROOT = Path(__file__).resolve().parent.parent


class TrainerProcess:
    """The service with its own data and cache folders under `folder`; `start()`, `kill()`, `stop()`."""

    APP = "trainer_api.app:app"

    def __init__(self, folder: Path, token: str = "test-trainer-token", **env: str) -> None:
        self.folder = folder
        self.extra_env = env
        self.data_dir = folder / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = folder / "uvicorn.log"

    def start(self, timeout: float = 90) -> None:
        """Start the service and wait until /v1/health answers 200."""
        env = dict(os.environ, TRAINER_DATA_DIR=str(self.data_dir), TRAINER_CACHE_DIR=str(self.folder / "cache"),
                   TRAINER_TOKEN=self.token, TRAINER_DEVICE="cpu", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   PYTHONUNBUFFERED="1")  # fmt: skip
        env.update(self.extra_env)
        argv = [sys.executable, "-m", "uvicorn", self.APP, "--host", "127.0.0.1", "--port", str(self.port)]
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


class InferenceProcess(TrainerProcess):
    """The inference service (`uvicorn trainer_api.inference_app:app`); `data_dir` may be a trainer's.

    `env` sets its other settings, e.g. INFERENCE_BATCH_WINDOW_MS="0", INFERENCE_MAX_BATCH="1".
    """

    APP = "trainer_api.inference_app:app"

    def __init__(self, folder: Path, token: str = "test-trainer-token", data_dir: Path | None = None, **env: str):
        super().__init__(folder, token, **env)
        if data_dir is not None:
            self.data_dir = data_dir
        self.log = folder / "inference.log"
