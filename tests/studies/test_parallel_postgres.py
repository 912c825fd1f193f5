"""Two parallel slots on PostgreSQL run two trials at the same time (the training service has two slots).

Runs in `make test`'s PostgreSQL pass (DATABASE_URL=postgresql://...); it makes
a database of its own on that server and drops it afterwards.
"""

from __future__ import annotations

import time
from datetime import datetime

import optuna
import pytest
import redis

from tests.platform_processes import start_platform
from tests.studies.platform_client import PASSWORD, Session, seed, trainer_health

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def platform(tmp_path_factory, redis_url, postgres_url):
    redis.Redis.from_url(redis_url).flushdb()
    env = {"DATABASE_URL": postgres_url, "TRAINER_MAX_TRIALS": "2", "STUDY_HEARTBEAT_SECONDS": "5"}
    running = start_platform(tmp_path_factory.mktemp("parallel"), redis_url, extra_env=env, worker_concurrency=2)
    try:
        seed(running, action="user", username="alice", password=PASSWORD)
        yield running
    finally:
        running.supervisor.stop_all()


def test_two_slots_train_two_trials_at_once(platform, postgres_url):
    alice = Session(platform, "alice")
    dataset = seed(platform, action="dataset", username="alice", options={"classes": 4, "per_class": 60, "size": 32})
    space = {"input_sizes": [32], "batch_sizes": [4], "epochs_min": 3, "epochs_max": 3}
    study_id = seed(platform, action="study", username="alice", dataset=dataset["id"], n_trials=4,
                    parallel_trials=2, pruner="none", space=space)["id"]  # fmt: skip
    busiest = 0
    deadline = time.monotonic() + 180
    while (state := alice.study(study_id)["state"]) not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, platform.supervisor.log_tail(platform.child("worker"))
        busiest = max(busiest, trainer_health(platform)["slots_busy"])
        time.sleep(0.3)
    assert state == "completed", alice.study(study_id)["error"]
    assert busiest == 2  # the training service ran two trials at once

    trials = alice.trials(study_id)
    assert len(trials) == 4 and {t["state"] for t in trials} == {"completed"}
    spans = [(datetime.fromisoformat(t["started_at"]), datetime.fromisoformat(t["finished_at"])) for t in trials]
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, spans
    storage = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    loaded = optuna.load_study(study_name=f"study-{study_id}", storage=storage)
    assert sorted(t.number for t in loaded.trials) == sorted(t["number"] for t in trials)
