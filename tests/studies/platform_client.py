"""Talking to a running platform from a test: seed rows in its database, log in, read the JSON API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx
import psutil

from tests.platform_processes import ROOT, RunningPlatform, wait_for

PASSWORD = "a-long-test-password"


def seed(platform: RunningPlatform, **request) -> dict:
    """Run tests.studies.platform_seed in the platform's environment; its JSON answer."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.studies.platform_seed", json.dumps(request)],
        cwd=ROOT, env=platform.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class Session:
    """A logged-in browser session on the platform (cookies + CSRF token)."""

    def __init__(self, platform: RunningPlatform, username: str) -> None:
        self.platform = platform
        self.http = httpx.Client(base_url=platform.url, timeout=20, follow_redirects=False)
        page = self.http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = self.http.post("/accounts/login/", data={"username": username, "password": PASSWORD,
                                                          "csrfmiddlewaretoken": token})  # fmt: skip
        assert answer.status_code == 302, answer.text[:500]

    def post(self, path: str) -> httpx.Response:
        token = self.http.cookies.get("csrftoken")
        return self.http.post(path, data={"csrfmiddlewaretoken": token}, headers={"Referer": self.platform.url})

    def study(self, study_id: str) -> dict:
        return self.http.get(f"/api/studies/{study_id}/").json()

    def trials(self, study_id: str) -> list[dict]:
        return self.http.get(f"/api/studies/{study_id}/trials/").json()["trials"]

    def wait_state(self, study_id: str, states: tuple[str, ...], timeout: float) -> dict:
        return wait_for(lambda: (s := self.study(study_id))["state"] in states and s, timeout,
                        message=f"study {study_id} to be {' or '.join(states)}")  # fmt: skip

    def wait_trial(self, study_id: str, predicate, timeout: float, message: str) -> dict:
        def find():
            return next((t for t in self.trials(study_id) if predicate(t)), None)

        return wait_for(find, timeout, interval=0.2, message=message)


def trainer_health(platform: RunningPlatform) -> dict:
    return httpx.get(f"{platform.trainer_url}/v1/health", timeout=10).json()


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its children (a machine losing power, as far as they can tell)."""
    parent = psutil.Process(pid)
    family = [*parent.children(recursive=True), parent]
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def elapsed(since: float) -> float:
    return time.monotonic() - since
