"""The README's start command, as a user runs it: everything healthy, Ctrl-C leaves nothing behind."""

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from platform_web.core.launcher import free_port
from tests.up_process import UpProcess

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _stop_and_check_nothing_left(up: UpProcess) -> str:
    process = up.process
    children = psutil.Process(process.pid).children(recursive=True)
    assert children, "the start command should own child processes"
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    process.wait(timeout=60)
    time.sleep(0.5)
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes left running after Ctrl-C: {[p.cmdline() for p in alive]}"
    up.wait_for_line("Stopped.", 10)
    return up.output()


def test_start_command_brings_every_part_up_and_ctrl_c_stops_all(tmp_path, redis_url):
    up = UpProcess(tmp_path, redis_url)
    try:
        up.wait_up()
        response = httpx.get(f"{up.url}/healthz", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "worker": "ok", "trainer": "ok",
                                   "inference": "ok"}  # fmt: skip
        inference = httpx.get(f"http://127.0.0.1:{up.inference_port}/v1/health", timeout=10).json()
        assert inference["role"] == "inference"
        assert any(line.startswith("started inference (pid") for line in up.lines), up.output()
        assert "Stopped." in _stop_and_check_nothing_left(up)
    finally:
        up.kill()


def test_start_command_starts_its_own_redis_when_none_answers(tmp_path):
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    up = UpProcess(tmp_path, nothing_there)
    try:
        lines = up.wait_up()
        assert any("started a private one" in line for line in lines), lines
        assert httpx.get(f"{up.url}/healthz", timeout=10).status_code == 200
        _stop_and_check_nothing_left(up)
    finally:
        up.kill()
