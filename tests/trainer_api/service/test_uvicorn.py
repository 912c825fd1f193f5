"""The service as deployed: a real uvicorn process, streamed over HTTP, killed and restarted mid-trial."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.trainer_api.service.helpers import AUTH, TOKEN, TrainerProcess, make_dataset, trial_body, wait_for
from trainer_api.trial_files import read_events

pytestmark = pytest.mark.slow


@pytest.fixture
def trainer(tmp_path):
    process = TrainerProcess(tmp_path, token=TOKEN)
    process.start()
    yield process
    process.stop()


def stream(url: str, offset: int = 0, timeout: float = 180) -> list[dict]:
    """Read the event stream until the server ends it (after `finished`)."""
    events = []
    with httpx.stream("GET", f"{url}?offset={offset}", headers=AUTH, timeout=httpx.Timeout(timeout)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
    return events


def status_of(trainer: TrainerProcess, key: str) -> dict:
    return httpx.get(f"{trainer.url}/v1/trials/{key}", headers=AUTH, timeout=10).json()


def test_over_http_a_trial_streams_live_and_the_token_is_checked(trainer, tmp_path):
    dataset = make_dataset(tmp_path / "datasets" / "1")
    assert httpx.get(f"{trainer.url}/v1/architectures", timeout=10).status_code == 401
    response = httpx.post(f"{trainer.url}/v1/trials", json=trial_body("h-1", dataset, epochs=3), headers=AUTH,
                          timeout=30)  # fmt: skip
    assert response.status_code == 202
    events = stream(f"{trainer.url}/v1/trials/h-1/events")
    assert [e["type"] for e in events] == ["epoch", "epoch", "epoch", "finished"]
    assert events[-1]["state"] == "completed"
    # a client that lost its connection after offset 1 picks up from there
    assert stream(f"{trainer.url}/v1/trials/h-1/events", offset=2) == events[2:]


EPOCHS = 40


def test_a_trial_killed_with_the_service_resumes_from_its_checkpoint(trainer, tmp_path):
    dataset = make_dataset(tmp_path / "datasets" / "1", per_class=24)
    body = trial_body("r-1", dataset, epochs=EPOCHS, batch_size=4)
    assert httpx.post(f"{trainer.url}/v1/trials", json=body, headers=AUTH, timeout=30).status_code == 202
    work_dir = trainer.folder / "data" / "trials" / "r-1"
    # Watch the files, not the API: epochs take tens of milliseconds, so the kill must follow quickly.
    wait_for(lambda: (work_dir / "checkpoint.pt").is_file()
             and sum(e["type"] == "epoch" for e in read_events(work_dir)) >= 2, 120, interval=0.005,
             message="two epochs and a checkpoint")  # fmt: skip
    trainer.kill()
    done_before = len([e for e in read_events(work_dir) if e["type"] == "epoch"])
    assert 2 <= done_before < EPOCHS

    trainer.start()
    interrupted = status_of(trainer, "r-1")
    assert interrupted["state"] == "failed" and interrupted["resumable"] is True
    assert "POST the same key again" in interrupted["error"]

    again = httpx.post(f"{trainer.url}/v1/trials", json=body, headers=AUTH, timeout=30)
    assert again.status_code == 202
    events = stream(f"{trainer.url}/v1/trials/r-1/events")
    assert events[-1]["type"] == "finished" and events[-1]["state"] == "completed"
    assert [e["offset"] for e in events] == list(range(len(events)))
    epochs = [e["epoch"] for e in events if e["type"] == "epoch"]
    resumed_at = epochs[done_before]  # the first epoch trained after the restart
    # The engine checkpoints an epoch, then reports it: it resumes after the last epoch reported before
    # the kill (or one later, when the kill fell between a checkpoint and its report), never from epoch 1.
    assert resumed_at in (done_before + 1, done_before + 2)
    assert epochs[:done_before] == list(range(1, done_before + 1))
    assert epochs[done_before:] == list(range(resumed_at, EPOCHS + 1))
    assert status_of(trainer, "r-1")["result"]["model_path"] == "trials/r-1/model.pth"
