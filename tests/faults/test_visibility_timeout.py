"""A study slot running longer than the broker's visibility timeout: Redis hands its task out again
while it runs, and the copy waits for the slot's lease instead of running the trials a second time."""

from __future__ import annotations

import re

import pytest
import redis

from tests.platform_processes import start_platform
from tests.studies.platform_client import PASSWORD, Session, seed
from tests.studies.test_platform import COUNTED, ENV, SLOW_TRIAL, assert_clean_end, trainer_keys

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

VISIBILITY_TIMEOUT = 3


def slot_deliveries(log: str) -> dict[str, int]:
    """How many times the worker received each study-slot task, by task id."""
    counts: dict[str, int] = {}
    for task_id in re.findall(r"Task studies\.run_slot\[([0-9a-f-]+)\] received", log):
        counts[task_id] = counts.get(task_id, 0) + 1
    return counts


def test_a_slot_longer_than_the_visibility_timeout_runs_its_trials_once(tmp_path, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    env = {**ENV, "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
           "CELERY_UNACKED_RESTORE_INTERVAL": "1", "CELERY_UNACKED_RESTORE_THROTTLE": "1"}  # fmt: skip
    platform = start_platform(tmp_path / "platform", redis_url, extra_env=env)
    try:
        seed(platform, action="user", username="alice", password=PASSWORD)
        alice = Session(platform, "alice")
        dataset = seed(platform, action="dataset", username="alice",
                       options={"classes": 4, "per_class": 60, "size": 32})  # fmt: skip
        study_id = seed(platform, action="study", username="alice", dataset=dataset["id"], n_trials=3,
                        pruner="none", space=SLOW_TRIAL)["id"]  # fmt: skip
        final = alice.wait_state(study_id, ("completed", "failed"), 420)
        assert final["state"] == "completed", final["error"]
        trials = assert_clean_end(platform, alice, study_id, 3)
        assert not [t for t in trials if t["state"] not in COUNTED], trials  # no lost, retried or doubled trial
        keys = trainer_keys(platform, study_id)
        assert len(set(keys.values())) == len(keys) == 3  # each trial trained once, under its own key
        log = (platform.var_dir / "logs" / "worker.log").read_text(errors="replace")
        redelivered = max(slot_deliveries(log).values(), default=0)
        assert redelivered >= 2, "the slot task was never handed out again: the test would prove nothing"
    finally:
        platform.supervisor.stop_all()
