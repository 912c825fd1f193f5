"""The service on a GPU host: one trial per slot (TRAINER_MAX_TRIALS), and out-of-memory trials as the caller sees them."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from fastapi.testclient import TestClient

from tests.trainer_api.service.helpers import AUTH, TOKEN, trial_body, wait_for
from trainer_api import engine
from trainer_api.app import create_app
from trainer_api.engine.batches import BatchFeeder
from trainer_api.settings import TrainerSettings

OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"
FINISHED = {"completed", "early_stopped", "cancelled", "diverged", "failed"}


def finished_status(client, key: str, timeout: float = 120) -> dict:
    return wait_for(
        lambda: (s := client.get(f"/v1/trials/{key}").json())["state"] in FINISHED and s, timeout, message=key
    )


def short_of_memory(monkeypatch, largest_batch: int) -> None:
    """Training batches over `largest_batch` images raise torch.OutOfMemoryError, as on a full GPU."""
    real_input = BatchFeeder.model_input

    def model_input(self, images, **kwargs):
        if "augment" in kwargs and images.shape[0] > largest_batch:
            raise torch.OutOfMemoryError(OOM)
        return real_input(self, images, **kwargs)

    monkeypatch.setattr(BatchFeeder, "model_input", model_input)


def test_a_trial_out_of_memory_completes_at_half_the_batch_and_its_result_says_so(client, dataset, monkeypatch):
    short_of_memory(monkeypatch, largest_batch=4)
    assert client.post("/v1/trials", json=trial_body("t-oom", dataset, epochs=1, batch_size=8)).status_code == 202
    status = finished_status(client, "t-oom")
    assert status["state"] == "completed", status
    result = status["result"]
    assert result["batch_size"] == 4
    assert result["out_of_memory_retry"] == {"failed_batch_size": 8, "batch_size": 4, "error": OOM}
    assert "retried from the start with batch size 4" in result["message"]
    finished = [json.loads(line) for line in client.get("/v1/trials/t-oom/events").text.splitlines()][-1]
    assert finished["result"]["out_of_memory_retry"]["batch_size"] == 4  # what the worker reads


def test_a_trial_out_of_memory_twice_fails_with_advice_and_frees_its_slot(client, anonymous, dataset, monkeypatch):
    short_of_memory(monkeypatch, largest_batch=1)
    client.post("/v1/trials", json=trial_body("t-oom2", dataset, epochs=1, batch_size=8))
    status = finished_status(client, "t-oom2")
    assert status["state"] == "failed" and not status["resumable"]
    assert "at batch size 4 too" in status["error"] and "choose a smaller batch size" in status["error"]
    assert anonymous.get("/v1/health").json()["slots_busy"] == 0


def test_trainer_max_trials_sets_the_slots_and_one_more_trial_gets_429(tmp_path, dataset, monkeypatch):
    monkeypatch.setenv("TRAINER_MAX_TRIALS", "2")
    settings = TrainerSettings(token=TOKEN, data_dir=tmp_path / "trainer", cache_dir=tmp_path / "cache", device="cpu")
    release = threading.Event()

    def held(config, **kwargs):  # a trial that trains until the test lets it finish
        release.wait(30)
        return engine.TrialResult(status="completed", message="", epochs_run=1)

    monkeypatch.setattr(engine, "run_trial", held)
    with TestClient(create_app(settings), headers=AUTH) as client:
        assert client.get("/v1/health").json()["slots_total"] == 2
        assert [client.post("/v1/trials", json=trial_body(k, dataset)).status_code for k in ("a", "b")] == [202, 202]
        refused = client.post("/v1/trials", json=trial_body("c", dataset))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert "All 2 training slot(s) are busy" in refused.json()["detail"]
        release.set()
        assert finished_status(client, "a")["state"] == "completed"
        assert finished_status(client, "b")["state"] == "completed"
        assert client.post("/v1/trials", json=trial_body("c", dataset)).status_code == 202


@pytest.mark.parametrize("value", ["1", ""])
def test_one_trial_per_gpu_is_the_default(monkeypatch, value):
    monkeypatch.setenv("TRAINER_MAX_TRIALS", value) if value else monkeypatch.delenv("TRAINER_MAX_TRIALS", False)
    assert TrainerSettings().max_concurrent_trials == 1
