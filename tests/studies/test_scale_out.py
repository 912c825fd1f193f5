"""Scale out: two worker + trainer pairs with separate folders (two "GPU hosts" sharing no disk) share one study.

The platform's own worker and trainer are stopped; each pair has a folder of its own
(media, trainer data, cache), so its trainer downloads the dataset from the web app
and sends every trial's files back (trainer_api/file_transfer.py). Runs in `make test`'s
PostgreSQL pass: parallel slots need PostgreSQL.
"""

from __future__ import annotations

import io

import httpx
import optuna
import pytest
import redis
import torch

from tests.platform_processes import start_pair, start_platform
from tests.studies.platform_client import PASSWORD, Session, seed

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]

TRIALS = 8


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_url, postgres_url):
    redis.Redis.from_url(redis_url).flushdb()
    var = tmp_path_factory.mktemp("scale")
    env = {"DATABASE_URL": postgres_url, "TRAINER_MAX_TRIALS": "1", "STUDY_HEARTBEAT_SECONDS": "5"}
    platform = start_platform(var / "main", redis_url, extra_env=env, worker_concurrency=1)
    pairs = []
    try:
        for name in ("worker", "trainer"):  # the main host trains nothing: only the pairs below do
            child = platform.child(name)
            child.process.terminate()
            child.process.wait(30)
        for host in ("a", "b"):
            folder = var / f"host-{host}"
            pairs.append(start_pair(platform, host, extra_env={
                "VAR_DIR": str(folder), "MEDIA_ROOT": str(folder / "media"), "TRAINER_CACHE_DIR": str(folder / "cache"),
                "TRAINER_PLATFORM_URL": platform.url,
            }))  # fmt: skip
        seed(platform, action="user", username="alice", password=PASSWORD)
        yield platform, pairs, var
    finally:
        for pair in pairs:
            pair.stop()
        platform.supervisor.stop_all()


def test_two_pairs_without_a_shared_disk_share_one_study(cluster, postgres_url):
    platform, pairs, var = cluster
    for pair in pairs:
        assert (
            httpx.get(f"{pair.trainer_url}/v1/health", timeout=10).json()["files"] == f"the platform at {platform.url}"
        )
    alice = Session(platform, "alice")
    dataset = seed(platform, action="dataset", username="alice", options={"classes": 3, "per_class": 24, "size": 16})
    space = {"architectures": ["simple_cnn"], "input_sizes": [16], "batch_sizes": [8], "epochs_min": 2, "epochs_max": 2}
    study_id = seed(platform, action="study", username="alice", dataset=dataset["id"], n_trials=TRIALS,
                    parallel_trials=2, pruner="none", space=space)["id"]  # fmt: skip
    study = alice.wait_state(study_id, ("completed", "failed", "cancelled"), timeout=400)
    logs = "\n".join(pair.supervisor.log_tail(child) for pair in pairs for child in pair.supervisor.children)
    assert study["state"] == "completed", (study.get("error"), logs[-4000:])

    trials = alice.trials(study_id)
    assert len(trials) == TRIALS and {t["state"] for t in trials} == {"completed"}, trials

    # Split across both hosts, none trained twice: each key's folder is on exactly one host.
    keys = {f"{study_id}-{t['number']}" for t in trials}
    ran_on = {host: {p.name for p in (var / f"host-{host}" / "media" / "trainer" / "trials").iterdir()}
              for host in ("a", "b")}  # fmt: skip
    assert ran_on["a"] and ran_on["b"], ran_on
    assert not ran_on["a"] & ran_on["b"] and ran_on["a"] | ran_on["b"] == keys, ran_on
    for host in ("a", "b"):  # each host downloaded the dataset once, into its own folder
        assert (var / f"host-{host}" / "media" / "datasets" / dataset["id"] / ".downloaded.json").is_file()
    received = var / "main" / "media" / "trainer" / "trials"  # what the web app holds: sent by the trainers
    assert {p.parent.name for p in received.glob("*/model.pth")} == keys

    # The records match Optuna's storage.
    storage = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    loaded = optuna.load_study(study_name=f"study-{study_id}", storage=storage)
    by_number = {t.number: t for t in loaded.trials}
    assert sorted(by_number) == sorted(t["number"] for t in trials)
    for row in trials:
        frozen = by_number[row["number"]]
        assert frozen.state == optuna.trial.TrialState.COMPLETE
        assert frozen.value == pytest.approx(row["value"])

    # Every model downloads from the web app, intact, though no trainer wrote to its disk.
    downloads = {}
    for row in trials:
        response = alice.http.get(f"/studies/{study_id}/trials/{row['number']}/download.pth")
        assert response.status_code == 200, (row["number"], response.text[:300])
        state = torch.load(io.BytesIO(response.content), weights_only=True)
        assert state["val_accuracy"] == pytest.approx(row["value"], abs=1e-6)
        downloads[row["number"]] = response.content
    best = alice.http.get(f"/studies/{study_id}/best/download.pth")
    assert best.status_code == 200 and best.content == downloads[study["best_trial"]["number"]]
