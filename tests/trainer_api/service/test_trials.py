"""Trials through the HTTP API (TestClient): start, stream, idempotent keys, slots, cancel, failures."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from tests.trainer_api.service.helpers import AUTH, trial_body, wait_for
from trainer_api import engine
from trainer_api.app import create_app
from trainer_api.trial_files import read_events as lines_of_file

FINISHED = {"completed", "early_stopped", "cancelled", "diverged", "failed"}


def lines_of(response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def finished_status(client, key: str, timeout: float = 120) -> dict:
    return wait_for(
        lambda: (s := client.get(f"/v1/trials/{key}").json())["state"] in FINISHED and s, timeout, message=f"{key}"
    )


@pytest.fixture
def run_counter(monkeypatch):
    """Counts the engine's run_trial calls (the real engine still trains)."""
    calls = []
    real = engine.run_trial

    def counted(*args, **kwargs):
        calls.append(kwargs["work_dir"])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run_trial", counted)
    return calls


def test_a_trial_trains_and_its_event_stream_runs_to_the_finished_event(client, dataset, registry):
    response = client.post("/v1/trials", json=trial_body("t-stream", dataset, epochs=2))
    assert response.status_code == 202
    assert response.json()["key"] == "t-stream"
    assert response.json()["state"] in ("queued", "running")

    events = lines_of(client.get("/v1/trials/t-stream/events"))
    assert [e["type"] for e in events] == ["epoch", "epoch", "finished"]
    assert [e["offset"] for e in events] == [0, 1, 2]
    assert [e["epoch"] for e in events[:2]] == [1, 2]
    assert {"train_loss", "val_accuracy", "seconds", "images_per_second", "learning_rate"} <= set(events[0])
    finished = events[-1]
    assert finished["state"] == "completed" and finished["error"] is None

    status = client.get("/v1/trials/t-stream").json()
    assert status["state"] == "completed" and status["epochs_done"] == 2
    result = status["result"]
    assert result["model_path"] == "trials/t-stream/model.pth"  # relative to TRAINER_DATA_DIR
    assert (registry.data_dir / result["model_path"]).is_file()
    assert result["class_names"] == ["bright", "dark"]
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert finished["result"] == result

    # resumable from any offset; past the end of a finished trial the stream ends at once
    assert lines_of(client.get("/v1/trials/t-stream/events?offset=1")) == events[1:]
    assert lines_of(client.get("/v1/trials/t-stream/events?offset=9")) == []
    assert client.get("/v1/trials/t-stream/events?offset=-1").status_code == 422


def test_the_same_key_never_trains_twice(client, dataset, registry, run_counter):
    body = trial_body("t-idem", dataset, epochs=2)
    first = client.post("/v1/trials", json=body)
    again_while_running = client.post("/v1/trials", json=body)
    assert (first.status_code, again_while_running.status_code) == (202, 200)
    assert again_while_running.json()["key"] == "t-idem"
    done = finished_status(client, "t-idem")
    after = client.post("/v1/trials", json=dict(body, config=dict(body["config"], epochs=5)))
    assert after.status_code == 200
    assert after.json() == done  # the stored result, not a new run with the new config
    assert len(run_counter) == 1
    epoch_events = [e for e in lines_of(client.get("/v1/trials/t-idem/events")) if e["type"] == "epoch"]
    assert [e["epoch"] for e in epoch_events] == [1, 2]


def test_a_second_trial_gets_429_with_retry_after_while_the_slot_is_busy(client, anonymous, dataset):
    assert client.post("/v1/trials", json=trial_body("t-long", dataset, epochs=500)).status_code == 202
    busy = client.post("/v1/trials", json=trial_body("t-other", dataset))
    assert busy.status_code == 429
    assert int(busy.headers["Retry-After"]) >= 1
    assert "busy" in busy.json()["detail"]
    assert anonymous.get("/v1/health").json()["slots_busy"] == 1
    assert client.get("/v1/trials/t-other").status_code == 404  # refused means not recorded either
    assert client.delete("/v1/trials/t-long").json()["state"] == "cancelled"
    assert client.post("/v1/trials", json=trial_body("t-other", dataset, epochs=1)).status_code == 202
    assert finished_status(client, "t-other")["state"] == "completed"


def test_cancel_stops_a_running_trial_within_moments(client, dataset):
    client.post("/v1/trials", json=trial_body("t-cancel", dataset, epochs=500, batch_size=2))
    wait_for(lambda: client.get("/v1/trials/t-cancel").json()["epochs_done"] >= 1, 60, message="first epoch")
    asked = time.monotonic()
    response = client.delete("/v1/trials/t-cancel")
    assert response.status_code == 200
    status = finished_status(client, "t-cancel", timeout=10)
    assert time.monotonic() - asked < 5
    assert status["state"] == "cancelled" and status["cancel_requested"] is True
    assert status["epochs_done"] < 500
    events = lines_of(client.get("/v1/trials/t-cancel/events"))
    assert events[-1]["type"] == "finished" and events[-1]["state"] == "cancelled"
    # a cancelled key is finished: posting it again does not train it again
    assert client.post("/v1/trials", json=trial_body("t-cancel", dataset)).json()["state"] == "cancelled"


def test_an_engine_failure_fails_the_trial_and_the_service_keeps_going(client, anonymous, dataset, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory while allocating 2 GiB")

    monkeypatch.setattr(engine, "run_trial", broken)
    assert client.post("/v1/trials", json=trial_body("t-broken", dataset)).status_code == 202
    status = finished_status(client, "t-broken")
    assert status["state"] == "failed"
    assert status["error"] == "CUDA out of memory while allocating 2 GiB"
    assert lines_of(client.get("/v1/trials/t-broken/events"))[-1]["error"] == status["error"]
    assert anonymous.get("/v1/health").json()["slots_busy"] == 0
    monkeypatch.undo()
    assert client.post("/v1/trials", json=trial_body("t-after", dataset, epochs=1)).status_code == 202
    assert finished_status(client, "t-after")["state"] == "completed"


def test_the_stream_sends_heartbeats_while_no_epoch_ends(client, dataset, registry, monkeypatch):
    registry.heartbeat_seconds = 0.2

    def slow(config, *, on_epoch, should_stop, **kwargs):
        time.sleep(1.0)
        on_epoch(engine.EpochReport(1, 1, 0.5, 0.9, 0.4, 1.0, 1.0, 20.0, 0.01))
        return engine.TrialResult(status="completed", message="", epochs_run=1)

    monkeypatch.setattr(engine, "run_trial", slow)
    client.post("/v1/trials", json=trial_body("t-quiet", dataset, epochs=1))
    events = lines_of(client.get("/v1/trials/t-quiet/events"))
    kinds = [e["type"] for e in events]
    assert kinds.count("heartbeat") >= 2 and kinds[-2:] == ["epoch", "finished"]
    assert all("offset" not in e for e in events if e["type"] == "heartbeat")


def test_unknown_keys_are_404(client):
    assert client.get("/v1/trials/nope").status_code == 404
    assert client.get("/v1/trials/nope/events").status_code == 404
    assert client.delete("/v1/trials/nope").status_code == 404
    assert "nope" in client.get("/v1/trials/nope").json()["detail"]


def test_a_shutdown_leaves_a_running_trial_resumable_by_the_next_service(trainer_settings, dataset):
    body = trial_body("t-shut", dataset, epochs=500, batch_size=2)
    first = create_app(trainer_settings)
    first.state.registry.num_threads = 1
    with TestClient(first, headers=AUTH) as client:
        assert client.post("/v1/trials", json=body).status_code == 202
        wait_for(lambda: client.get("/v1/trials/t-shut").json()["epochs_done"] >= 1, 60, message="first epoch")
    # the lifespan's shutdown stopped the trial within a batch, without calling it cancelled
    done_before = len([e for e in lines_of_file(first.state.registry.work_dir("t-shut")) if e["type"] == "epoch"])

    second = create_app(trainer_settings)
    second.state.registry.num_threads = 1
    with TestClient(second, headers=AUTH) as client:
        status = client.get("/v1/trials/t-shut").json()
        assert (status["state"], status["resumable"]) == ("failed", True)
        assert lines_of(client.get("/v1/trials/t-shut/events"))[-1]["resumable"] is True
        assert client.post("/v1/trials", json=body).status_code == 202
        wait_for(lambda: client.get("/v1/trials/t-shut").json()["epochs_done"] > done_before, 60, message="resume")
        assert client.delete("/v1/trials/t-shut").json()["state"] == "cancelled"
        epochs = [e["epoch"] for e in lines_of(client.get("/v1/trials/t-shut/events")) if e["type"] == "epoch"]
        assert epochs == list(range(1, len(epochs) + 1))  # went on from the checkpoint, not from epoch 1


def test_cancelling_an_interrupted_trial_makes_it_final(trainer_settings, dataset):
    body = trial_body("t-dead", dataset, epochs=500, batch_size=2)
    first = create_app(trainer_settings)
    first.state.registry.num_threads = 1
    with TestClient(first, headers=AUTH) as client:
        client.post("/v1/trials", json=body)
        wait_for(lambda: client.get("/v1/trials/t-dead").json()["epochs_done"] >= 1, 60, message="first epoch")
    with TestClient(create_app(trainer_settings), headers=AUTH) as client:
        assert client.delete("/v1/trials/t-dead").json()["state"] == "cancelled"
        again = client.post("/v1/trials", json=body)
        assert again.status_code == 200 and again.json()["state"] == "cancelled"
        assert lines_of(client.get("/v1/trials/t-dead/events"))[-1]["state"] == "cancelled"
