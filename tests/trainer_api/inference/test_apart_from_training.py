"""As deployed: the inference service in its own uvicorn process answers while the training service trains."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.platform_processes import wait_for
from tests.trainer_api.inference.conftest import png
from tests.trainer_api.service.helpers import make_dataset, trial_body
from tests.trainer_process import InferenceProcess, TrainerProcess

pytestmark = pytest.mark.slow
TOKEN = "apart-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def services(tmp_path, trained_trial):
    trainer = TrainerProcess(tmp_path / "trainer", token=TOKEN)
    shutil.copytree(trained_trial, trainer.data_dir / "trials" / "study-a-0")  # a model to serve from the start
    inference = InferenceProcess(tmp_path / "inference", token=TOKEN, data_dir=trainer.data_dir,
                                 INFERENCE_SCAN_SECONDS="0")  # fmt: skip
    try:
        trainer.start()
        inference.start()
        yield trainer, inference
    finally:
        inference.stop()
        trainer.stop()


def timed_prediction(url: str) -> float:
    files = [("files", ("w.png", png(250), "image/png"))]
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/predict", data={"model": "trials/study-a-0/model.pth"}, files=files,
                          headers=AUTH, timeout=30)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["predictions"][0]["class"] == "bright"
    return time.monotonic() - started


def test_predictions_keep_answering_while_a_trial_trains(services):
    trainer, inference = services
    assert httpx.get(f"{inference.url}/v1/health", timeout=10).json()["models_loaded"] == 1  # preloaded
    dataset = make_dataset(trainer.folder / "datasets" / "1", per_class=40)  # the trainer reads only there
    body = trial_body("long-1", dataset, epochs=500, batch_size=4)
    assert httpx.post(f"{trainer.url}/v1/trials", json=body, headers=AUTH, timeout=30).status_code == 202
    status = f"{trainer.url}/v1/trials/long-1"
    wait_for(lambda: httpx.get(status, headers=AUTH, timeout=10).json()["epochs_done"] >= 1, 120, message="an epoch")
    try:
        one_by_one = [timed_prediction(inference.url) for _ in range(10)]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda _: timed_prediction(inference.url), range(16)))
        during = httpx.get(status, headers=AUTH, timeout=10).json()
        assert during["state"] == "running", during  # the predictions were timed while the trial trained
        assert max(one_by_one) < 3.0 and max(together) < 5.0, (one_by_one, together)
        assert httpx.get(f"{inference.url}/v1/health", timeout=10).json()["images"] == 26
    finally:
        httpx.delete(status, headers=AUTH, timeout=30)
