"""Dynamic batching: concurrent requests for one model share forward passes, each answered as if alone."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from tests.trainer_api.inference.conftest import install, png, running
from trainer_api import engine

LEVELS = [10 + 15 * i for i in range(16)]  # dark to bright: the answers differ from request to request


async def predict(client, model: str, files: list[tuple[str, bytes]], top_k: int = 2):
    return await client.post("/v1/predict", data={"model": model, "top_k": str(top_k)},
                             files=[("files", (name, data, "image/png")) for name, data in files])  # fmt: skip


async def test_concurrent_requests_share_forward_passes_and_each_gets_its_own_answer(inference_settings, trained_trial):
    model = install(trained_trial, inference_settings.data_dir, "study-a-0")
    network, metadata = engine.load_model(inference_settings.data_dir / model)
    async with running(inference_settings) as (app, client):
        responses = await asyncio.gather(*(predict(client, model, [(f"{level}.png", png(level))]) for level in LEVELS))
        sizes = list(app.state.batching.batch_sizes)
    assert sum(sizes) == 16 and len(sizes) < 16, sizes  # fewer forward passes than requests
    assert max(sizes) > 1
    for level, response in zip(LEVELS, responses, strict=True):
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert result["filename"] == f"{level}.png" and result["error"] is None
        alone = engine.predict(network, metadata, [Image.open(io.BytesIO(png(level)))], top_k=2)[0]
        assert [p["class"] for p in result["predictions"]] == [row["class_name"] for row in alone]
        for got, expected in zip(result["predictions"], alone, strict=True):
            assert got["probability"] == pytest.approx(expected["probability"], abs=1e-5)


async def test_with_batching_off_every_image_has_its_own_pass(inference_settings, trained_trial):
    model = install(trained_trial, inference_settings.data_dir, "study-a-0")
    async with running(inference_settings, batch_window_ms=0, max_batch=1) as (app, client):
        responses = await asyncio.gather(*(predict(client, model, [("x.png", png(level))]) for level in LEVELS[:8]))
        assert all(r.status_code == 200 for r in responses)
        assert list(app.state.batching.batch_sizes) == [1] * 8


async def test_requests_with_different_top_k_and_a_broken_file_in_one_batch(inference_settings, trained_trial):
    model = install(trained_trial, inference_settings.data_dir, "study-a-0")
    async with running(inference_settings) as (app, client):
        mixed = predict(client, model, [("white.png", png(250)), ("notes.txt", b"not an image")], top_k=2)
        single = predict(client, model, [("black.png", png(5))], top_k=1)
        first, second = await asyncio.gather(mixed, single)
        assert len(app.state.batching.batch_sizes) == 1  # both requests went through one pass
    white, notes = first.json()["results"]
    assert [p["class"] for p in white["predictions"]] == ["bright", "dark"]
    assert notes["predictions"] is None and notes["error"].startswith("not a readable image")
    assert [p["class"] for p in second.json()["results"][0]["predictions"]] == ["dark"]
    assert first.json()["class_names"] == ["bright", "dark"] and first.json()["model"] == model


@pytest.mark.parametrize(
    "model, code", [("../../etc/passwd.pth", 400), ("/etc/model.pth", 400), ("trials/none/model.pth", 404)]
)
async def test_bad_model_paths_are_refused(inference_settings, model, code):
    async with running(inference_settings) as (_, client):
        response = await predict(client, model, [("w.png", png(240))])
    assert response.status_code == code and "model" in response.json()["detail"]


async def test_it_serves_predictions_and_health_only_and_checks_the_token(inference_settings):
    async with running(inference_settings) as (_, client):
        health = (await client.get("/v1/health")).json()
        assert health["role"] == "inference" and health["max_batch"] == 64 and health["batch_window_ms"] == 20
        assert (await client.post("/v1/trials", json={})).status_code == 404  # it never trains
        assert (await client.post("/v1/speed", json={})).status_code == 404
        anonymous = await client.post("/v1/predict", headers={"Authorization": ""}, data={"model": "m.pth"},
                                      files=[("files", ("w.png", png(1), "image/png"))])  # fmt: skip
        assert anonymous.status_code == 401
