"""The best model of each recent study is loaded before the first request, and again when a study finishes."""

from __future__ import annotations

import asyncio
import time

from tests.trainer_api.inference.conftest import install, png, running
from trainer_api.preload import RecentModels


async def test_the_best_model_of_each_recent_study_answers_its_first_request_without_loading(
    inference_settings, trained_trial
):
    data = inference_settings.data_dir
    install(trained_trial, data, "study-a-0", accuracy=0.6, age=30)
    best_a = install(trained_trial, data, "study-a-1", accuracy=0.9, age=20)
    best_b = install(trained_trial, data, "study-b-0", accuracy=0.7, age=10)
    old = install(trained_trial, data, "study-c-0", accuracy=1.0, age=3600)  # an older study: not preloaded
    async with running(inference_settings) as (app, client):
        cache = app.state.model_cache
        assert sorted(cache.loaded()) == sorted([best_a, best_b]) and cache.loads == 2
        models = (await client.get("/v1/models")).json()
        assert models["preloaded"] == [best_b, best_a]  # newest study first
        response = await client.post("/v1/predict", data={"model": best_a},
                                     files=[("files", ("w.png", png(250), "image/png"))])  # fmt: skip
        assert response.status_code == 200
        assert response.json()["results"][0]["predictions"][0]["class"] == "bright"
        assert cache.loads == 2  # answered by the model loaded at start
        await client.post("/v1/predict", data={"model": old}, files=[("files", ("w.png", png(250), "image/png"))])
        assert cache.loads == 3  # a model that was not preloaded is loaded by its first request


async def test_a_study_that_finishes_while_the_service_runs_is_loaded_on_the_next_scan(
    inference_settings, trained_trial
):
    async with running(inference_settings, scan_seconds=0.2) as (app, _):
        assert app.state.model_cache.loaded() == []
        model = install(trained_trial, inference_settings.data_dir, "study-new-0")
        deadline = time.monotonic() + 20
        while model not in app.state.model_cache.loaded():
            assert time.monotonic() < deadline, "the finished study's model was not loaded"
            await asyncio.sleep(0.05)


def test_only_finished_trials_with_a_model_count(tmp_path, trained_trial):
    data = tmp_path / "data"
    install(trained_trial, data, "s1-0")
    install(trained_trial, data, "s2-0")
    (data / "trials" / "s2-0" / "result.json").write_text('{"result": {"status": "diverged", "best_val_accuracy": 1}}')
    install(trained_trial, data, "s3-0")
    (data / "trials" / "s3-0" / "model.pth").unlink()
    install(trained_trial, data, "s4-0")
    (data / "trials" / "s4-0" / "result.json").write_text("{half a file")
    (data / "trials" / "s5-0").mkdir()  # still running: no result yet
    assert RecentModels(data).best_of_recent_studies(10) == [data / "trials" / "s1-0" / "model.pth"]
    assert RecentModels(tmp_path / "nothing").best_of_recent_studies(3) == []


async def test_a_damaged_model_does_not_stop_the_others_or_the_service(inference_settings, trained_trial):
    data = inference_settings.data_dir
    good = install(trained_trial, data, "study-a-0", age=20)
    broken = install(trained_trial, data, "study-b-0")
    (data / broken).write_bytes(b"not a model")
    async with running(inference_settings) as (app, client):
        assert app.state.model_cache.loaded() == [good]
        assert (await client.get("/v1/health")).status_code == 200
        response = await client.post("/v1/predict", data={"model": broken},
                                     files=[("files", ("w.png", png(250), "image/png"))])  # fmt: skip
        assert response.status_code == 404 and "not a model this service can load" in response.json()["detail"]
