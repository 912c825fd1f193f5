"""`make up` under SIGKILL: each child killed outright is started again and the platform answers again;
the others keep their process; the start command itself killed outright starts again at once on the same ports."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from tests.up_process import UpProcess

pytestmark = pytest.mark.slow

CHILDREN = ("trainer", "inference", "worker", "web")


def health(up: UpProcess) -> dict | None:
    try:
        response = httpx.get(f"{up.url}/healthz", timeout=5)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def wait_healthy(up: UpProcess, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (answer := health(up)) is not None:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"/healthz did not answer 200 in {timeout:.0f} s:\n{up.output()[-4000:]}")


def child_pids(up: UpProcess) -> dict[str, int]:
    """The latest pid printed for each child ("started X (pid N)" or "started X again (pid N)")."""
    pids = {}
    for line in up.lines:
        for name in CHILDREN:
            for prefix in (f"started {name} (pid ", f"started {name} again (pid "):
                if line.startswith(prefix):
                    pids[name] = int(line[len(prefix) :].split(")")[0])
    return pids


def test_each_child_killed_is_started_again_and_a_killed_start_command_starts_again_at_once(tmp_path, redis_url):
    up = UpProcess(tmp_path, redis_url)
    try:
        up.wait_up()
        for name in CHILDREN:
            before = child_pids(up)
            mark = len(up.lines)
            os.killpg(before[name], signal.SIGKILL)  # the whole group, as a crash or the OOM killer leaves it
            up.wait_for_line(rf"^{name} exited with code -9; starting it again in 1 s", 30, after=mark)
            up.wait_for_line(rf"^started {name} again \(pid \d+\)", 30, after=mark)
            assert wait_healthy(up, 120)["status"] == "ok"
            after = child_pids(up)
            assert after[name] != before[name]
            assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}
        assert up.process.poll() is None, "the start command stopped"

        os.kill(up.process.pid, signal.SIGKILL)  # no Ctrl-C, no cleanup: the children get SIGTERM from the kernel
        up.process.wait(timeout=30)
        again = UpProcess(
            tmp_path, redis_url, web_port=up.web_port, trainer_port=up.trainer_port, inference_port=up.inference_port
        )
        try:
            again.wait_up(240)
            assert "in use" not in again.output()
            assert wait_healthy(again, 60)["status"] == "ok"
        finally:
            again.process.send_signal(signal.SIGINT)
            again.process.wait(timeout=60)
    finally:
        up.kill()
