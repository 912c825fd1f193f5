"""POST /v1/predict: top-k per image from a trained model, per-file errors, safe model paths, cached models."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.trainer_api.service.helpers import trial_body, wait_for
from trainer_api import predictions


def png(level: int, size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (level, level, level)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def model_path(client, dataset) -> str:
    """A model trained on bright vs dark squares through the service itself."""
    client.post("/v1/trials", json=trial_body("t-model", dataset, epochs=3, learning_rate=0.02))
    status = wait_for(
        lambda: (s := client.get("/v1/trials/t-model").json())["state"] != "running" and s["result"] and s,
        120, message="training",
    )  # fmt: skip
    assert status["state"] == "completed"
    return status["result"]["model_path"]


def test_predict_returns_top_k_for_images_and_an_error_for_a_non_image(client, model_path, service):
    files = [
        ("files", ("white.png", png(250), "image/png")),
        ("files", ("notes.txt", b"this is not an image", "text/plain")),
        ("files", ("black.png", png(5), "image/png")),
        ("files", ("broken.png", png(128)[:40], "image/png")),
    ]
    response = client.post("/v1/predict", data={"model": model_path, "top_k": "5"}, files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == model_path and body["class_names"] == ["bright", "dark"]
    results = {r["filename"]: r for r in body["results"]}
    assert [r["filename"] for r in body["results"]] == ["white.png", "notes.txt", "black.png", "broken.png"]
    white, black = results["white.png"]["predictions"], results["black.png"]["predictions"]
    assert len(white) == 2  # top_k is capped at the class count
    assert white[0]["class"] == "bright" and black[0]["class"] == "dark"
    assert white[0]["probability"] >= white[1]["probability"]
    assert sum(p["probability"] for p in white) == pytest.approx(1.0, abs=1e-4)
    for name in ("notes.txt", "broken.png"):
        assert results[name]["predictions"] is None
        assert results[name]["error"].startswith("not a readable image")
        assert "BytesIO" not in results[name]["error"]

    one = client.post("/v1/predict", data={"model": model_path, "top_k": "1"},
                      files=[("files", ("w.png", png(240), "image/png"))])  # fmt: skip
    assert [p["class"] for p in one.json()["results"][0]["predictions"]] == ["bright"]
    assert service.state.model_cache.loads == 1  # the second request reused the loaded model


def test_an_oversized_file_gets_its_own_error(client, model_path, monkeypatch):
    monkeypatch.setattr(predictions, "MAX_FILE_BYTES", 1000)
    files = [("files", ("big.png", png(100, size=256) + b"\0" * 1000, "image/png")),
             ("files", ("small.png", png(240), "image/png"))]  # fmt: skip
    results = client.post("/v1/predict", data={"model": model_path}, files=files).json()["results"]
    assert results[0]["predictions"] is None and "larger than the 1,000 bytes" in results[0]["error"]
    assert results[1]["predictions"][0]["class"] == "bright"


@pytest.mark.parametrize(
    "model, code",
    [("../../../etc/passwd.pth", 400), ("/etc/model.pth", 400), ("trials/t-model/config.json", 400),
     ("trials/nothing-here/model.pth", 404), ("a" * 300 + ".pth", 404), ("a/" * 2500 + "m.pth", 422)],
)  # fmt: skip
def test_model_paths_outside_the_data_folder_or_missing_are_refused(client, model, code):
    files = [("files", ("w.png", png(240), "image/png"))]
    response = client.post("/v1/predict", data={"model": model}, files=files)
    assert response.status_code == code
    assert "model" in str(response.json()["detail"])


def test_a_file_that_is_not_a_model_is_404_with_the_reason(client, registry):
    fake = registry.data_dir / "trials" / "fake" / "model.pth"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not a checkpoint")
    response = client.post("/v1/predict", data={"model": "trials/fake/model.pth"},
                           files=[("files", ("w.png", png(240), "image/png"))])  # fmt: skip
    assert response.status_code == 404
    assert "not a model" in response.json()["detail"]
