"""The README's start command, as a user runs it: everything healthy, Ctrl-C leaves nothing behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from platform_web.core.launcher import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _start(tmp_path, redis_url_value):
    web, trainer = free_port(), free_port()
    env = dict(os.environ, VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               MEDIA_ROOT=str(tmp_path / "media"), REDIS_URL=redis_url_value, PYTHONUNBUFFERED="1")  # fmt: skip
    env.pop("TRAINER_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--port", str(web), "--trainer-port", str(trainer)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    return process, web


def _wait_up(process, timeout=180):
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "The platform is up" in line:
            return lines
    process.kill()
    raise AssertionError("platform did not come up:\n" + "".join(lines))


def _stop_and_check_nothing_left(process):
    children = psutil.Process(process.pid).children(recursive=True)
    assert children, "the start command should own child processes"
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    process.wait(timeout=60)
    time.sleep(0.5)
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes left running after Ctrl-C: {[p.cmdline() for p in alive]}"
    return process.stdout.read()


def test_start_command_brings_every_part_up_and_ctrl_c_stops_all(tmp_path, redis_url):
    process, web = _start(tmp_path, redis_url)
    try:
        _wait_up(process)
        response = httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "worker": "ok", "trainer": "ok"}
        assert "Stopped." in _stop_and_check_nothing_left(process)
    finally:
        if process.poll() is None:
            process.kill()


def test_start_command_starts_its_own_redis_when_none_answers(tmp_path):
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    process, web = _start(tmp_path, nothing_there)
    try:
        lines = _wait_up(process)
        assert any("started a private one" in line for line in lines), lines
        assert httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=10).status_code == 200
        _stop_and_check_nothing_left(process)
    finally:
        if process.poll() is None:
            process.kill()
