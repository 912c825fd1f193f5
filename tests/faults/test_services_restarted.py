"""Redis or PostgreSQL restarted while a study trains: the worker, the web process and the live page recover,
and the study ends with every trial recorded once (none lost, none doubled, Optuna agreeing with the records).

Each test runs its own server (tests/faults/own_services.py) so it can kill it without touching the
servers the rest of the suite uses.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import WebSocketException

from tests.faults.own_services import OwnPostgres, OwnRedis
from tests.platform_processes import start_platform
from tests.studies.platform_client import PASSWORD, Session, seed
from tests.studies.test_platform import COUNTED, ENV, SLOW_TRIAL, mid_trial

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

N_TRIALS = 4


class LivePage:
    """What the study page's script does with its socket: read events, ask for a sync every 2 s, and reconnect
    after a close with `?after=<last seq>`. Records every event seq it was given and when."""

    def __init__(self, platform, session: Session, study_id: str) -> None:
        self.url = platform.url.replace("http://", "ws://") + f"/ws/studies/{study_id}/"
        self.headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in session.http.cookies.items()),
                        "Origin": platform.url}  # fmt: skip
        self.seqs: list[int] = []
        self.received_at: list[float] = []
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            after = f"?after={self.seqs[-1]}" if self.seqs else ""
            try:
                with ws_client.connect(self.url + after, additional_headers=self.headers, open_timeout=10) as socket:
                    self.connections += 1
                    last_sync = time.monotonic()
                    while not self._stop.is_set():
                        if time.monotonic() - last_sync > 2:
                            socket.send(json.dumps({"action": "sync"}))
                            last_sync = time.monotonic()
                        try:
                            message = json.loads(socket.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        self._take(message)
            except (OSError, WebSocketException, TimeoutError):
                pass
            self._stop.wait(1)  # the page waits before reconnecting, too

    def _take(self, message: dict) -> None:
        if message.get("type") == "snapshot":
            if not self.seqs:
                self.seqs.extend(range(1, message["seq"] + 1))
                self.received_at.extend([time.monotonic()] * message["seq"])
            return
        for event in message.get("events", []):
            self.seqs.append(event["seq"])
            self.received_at.append(time.monotonic())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def run_study_through_a_restart(platform, restart) -> None:
    """Start a study of slow trials, call `restart()` mid-trial, and check the study ends clean."""
    seed(platform, action="user", username="alice", password=PASSWORD)
    alice = Session(platform, "alice")
    dataset = seed(platform, action="dataset", username="alice", options={"classes": 4, "per_class": 100, "size": 32})
    study_id = seed(platform, action="study", username="alice", dataset=dataset["id"], n_trials=N_TRIALS,
                    pruner="none", space=SLOW_TRIAL)["id"]  # fmt: skip
    page = LivePage(platform, alice, study_id)
    try:
        alice.wait_trial(study_id, mid_trial, 180, "a trial mid-way")
        restarted_at = time.monotonic()
        restart()
        wait_healthy(platform, 90)  # database, Redis, worker and training service all answer again
        final = wait_final(alice, study_id, 480)
        assert final["state"] == "completed", final["error"]
        time.sleep(4)  # two of the page's syncs
    finally:
        page.stop()
    trials = alice.trials(study_id)
    numbers = [t["number"] for t in trials]
    assert len(numbers) == len(set(numbers)), trials
    assert not [t for t in trials if t["state"] == "running"], trials
    counted = [t for t in trials if t["state"] in COUNTED]
    assert len(counted) == N_TRIALS, trials  # the budget, no more: nothing trained twice into the count
    assert all(t["epochs_done"] == 16 for t in counted), trials
    last_seq = alice.http.get(f"/studies/{study_id}/snapshot.json").json()["seq"]
    assert page.seqs == list(range(1, last_seq + 1)), "the live page missed or repeated events"
    assert [at for at in page.received_at if at > restarted_at], "the live page got nothing after the restart"
    return study_id, trials


def wait_healthy(platform, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    answer = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{platform.url}/healthz", timeout=15)
            if answer.status_code == 200:
                return
        except httpx.HTTPError as e:
            answer = e
        time.sleep(1)
    raise AssertionError(f"/healthz did not answer 200 in {timeout:.0f} s: {getattr(answer, 'text', answer)}")


def wait_final(alice: Session, study_id: str, timeout: float) -> dict:
    """The study's final state, riding out the seconds where the web cannot reach its database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            study = alice.study(study_id)
        except (httpx.HTTPError, ValueError):
            study = {}
        if study.get("state") in ("completed", "failed", "cancelled"):
            return study
        time.sleep(1)
    raise AssertionError(f"study {study_id} did not finish in {timeout:.0f} s: {alice.study(study_id)}")


@pytest.mark.skipif(not OwnRedis.available(), reason="redis-server is not installed")
def test_redis_restarted_mid_study(tmp_path):
    server = OwnRedis(tmp_path / "redis")
    server.start()
    platform = start_platform(tmp_path / "platform", server.url, extra_env=ENV)
    try:

        def restart():
            server.kill()
            time.sleep(8)  # longer than a slot lease: the worker cannot renew it while Redis is away
            server.start()

        run_study_through_a_restart(platform, restart)
        worker_log = (platform.var_dir / "logs" / "worker.log").read_text(errors="replace")
        assert "lost its slot lease" not in worker_log
    finally:
        platform.supervisor.stop_all()
        server.kill()


@pytest.mark.skipif(not OwnPostgres.available(), reason="PostgreSQL's initdb and pg_ctl are not installed")
def test_postgresql_restarted_mid_study(tmp_path, redis_url):
    server = OwnPostgres()
    server.init()
    server.start()
    platform = start_platform(tmp_path / "platform", redis_url, extra_env={**ENV, "DATABASE_URL": server.url})
    try:

        def restart():
            server.stop("immediate")  # every connection dropped, as a crash drops them
            time.sleep(5)
            server.start()

        run_study_through_a_restart(platform, restart)
    finally:
        platform.supervisor.stop_all()
        server.remove()
