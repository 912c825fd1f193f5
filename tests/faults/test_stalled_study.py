"""Every study worker gone: the study page says the study stalled, Resume queues it again, and once a worker
runs again the study finishes with the interrupted trial retried (its training followed, not started over)."""

from __future__ import annotations

import time

import pytest
import redis

from tests.platform_processes import start_platform
from tests.studies.platform_client import PASSWORD, Session, kill_tree, seed
from tests.studies.test_platform import COUNTED, ENV, SLOW_TRIAL, mid_trial

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

STALL_SECONDS = 8


def test_a_study_whose_workers_are_gone_shows_stalled_and_resumes(tmp_path, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    env = {**ENV, "STUDY_STALL_SECONDS": str(STALL_SECONDS)}
    platform = start_platform(tmp_path / "platform", redis_url, extra_env=env)
    try:
        seed(platform, action="user", username="alice", password=PASSWORD)
        alice = Session(platform, "alice")
        dataset = seed(platform, action="dataset", username="alice",
                       options={"classes": 4, "per_class": 100, "size": 32})  # fmt: skip
        study_id = seed(platform, action="study", username="alice", dataset=dataset["id"], n_trials=2,
                        pruner="none", space=SLOW_TRIAL)["id"]  # fmt: skip
        victim = alice.wait_trial(study_id, mid_trial, 180, "a trial mid-way")
        kill_tree(platform.child("worker").process.pid)  # and nobody starts it again

        deadline = time.monotonic() + 60
        while not (stall := alice.study(study_id)["stall"]) and time.monotonic() < deadline:
            time.sleep(1)
        assert stall.startswith("Stalled: no worker has run this study"), alice.study(study_id)
        page = alice.http.get(f"/studies/{study_id}/").text
        assert 'id="stall-resume-button"' in page and "Stalled: no worker has run this study" in page

        assert alice.post(f"/studies/{study_id}/resume/").status_code == 302
        resumed = alice.study(study_id)
        assert resumed["state"] == "queued" and resumed["stall"] == "", resumed
        lost = next(t for t in alice.trials(study_id) if t["number"] == victim["number"])
        assert lost["state"] == "failed" and "worker running this trial stopped" in lost["error"], lost

        platform.restart("worker")
        final = alice.wait_state(study_id, ("completed", "failed"), 300)
        assert final["state"] == "completed", final["error"]
        trials = alice.trials(study_id)
        assert len([t for t in trials if t["state"] in COUNTED]) == 2, trials
        retry = next(t for t in trials if t["retry_of"] == victim["number"])
        assert retry["state"] in COUNTED and retry["epochs_done"] == 16, retry
    finally:
        platform.supervisor.stop_all()
