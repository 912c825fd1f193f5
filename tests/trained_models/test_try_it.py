"""Try it: uploads classified by a real inference service (uvicorn subprocess), same answers as the snippet."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from platform_web.core.launcher import free_port
from tests.trained_models.snippet_runner import downloaded_with_snippet, run_snippet

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="image/png")


def post_files(client, trial, files):
    return client.post(reverse("trained_models:predict", args=[trial.study_id, trial.number]), {"files": files})


def test_top5_for_images_and_the_same_top_class_as_the_snippet(alice_client, served_trial, tmp_path):
    dataset_dir = Path(served_trial.study.dataset.directory)
    images = [
        dataset_dir / "files/val/blue/001.jpg",  # JPEG with EXIF orientation 6
        dataset_dir / "files/val/green/002.png",
        dataset_dir / "files/val/red/000.png",  # drawn in another class's colour
        dataset_dir / "files/val/red/003.png",
    ]
    response = post_files(alice_client, served_trial, [upload(p) for p in images])
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["filename"] for r in results] == [p.name for p in images]
    for result in results:
        assert result["error"] is None
        probabilities = [p["probability"] for p in result["predictions"]]
        assert len(probabilities) == 3  # top-5 of a three-class model is all three
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)

    folder = tmp_path / "user"
    folder.mkdir()
    name = downloaded_with_snippet(alice_client, served_trial, folder)
    snippet_lines = run_snippet(folder, name, images)
    for result, line in zip(results, snippet_lines, strict=True):
        assert result["predictions"][0]["class"] == line["predictions"][0]["class_name"]
        assert result["predictions"][0]["probability"] == pytest.approx(line["predictions"][0]["probability"], abs=1e-4)


def test_corrupt_and_non_image_files_get_a_message(alice_client, served_trial):
    good = Path(served_trial.study.dataset.directory) / "files/val/blue/002.png"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(buffer, "PNG")
    truncated = SimpleUploadedFile("broken.png", buffer.getvalue()[:60], content_type="image/png")
    text = SimpleUploadedFile("notes.txt", b"this is not a picture", content_type="text/plain")
    response = post_files(alice_client, served_trial, [truncated, upload(good), text])
    assert response.status_code == 200
    broken, fine, notes = response.json()["results"]
    assert fine["error"] is None and fine["predictions"][0]["class"] == "blue"
    for bad in (broken, notes):
        assert bad["predictions"] is None
        assert bad["error"].startswith("Not a readable image")


def test_oversized_and_empty_files_are_refused_before_the_service(alice_client, served_trial, settings):
    settings.TRY_IT_MAX_BYTES = 2000
    big = SimpleUploadedFile("huge.png", b"\x89PNG" + b"0" * 5000, content_type="image/png")
    empty = SimpleUploadedFile("empty.png", b"", content_type="image/png")
    response = post_files(alice_client, served_trial, [big, empty])
    assert response.status_code == 200
    huge, nothing = response.json()["results"]
    assert huge["error"] == "5 KB is too large; images up to 2 KB can be tried."
    assert nothing["error"] == "The file is empty."


def test_no_files_and_too_many_files(alice_client, served_trial, settings):
    response = post_files(alice_client, served_trial, [])
    assert response.status_code == 400 and "Choose one or more image files" in response.json()["error"]
    settings.TRY_IT_MAX_FILES = 1
    files = [SimpleUploadedFile(f"{i}.png", b"x", content_type="image/png") for i in range(2)]
    response = post_files(alice_client, served_trial, files)
    assert response.status_code == 400 and "at most 1" in response.json()["error"]


def test_service_down_gives_a_message(alice_client, trial, settings):
    settings.INFERENCE_URL = f"http://127.0.0.1:{free_port('127.0.0.1')}"  # nothing listens there
    image = Path(trial.study.dataset.directory) / "files/val/blue/002.png"
    response = post_files(alice_client, trial, [upload(image)])
    assert response.status_code == 400
    assert "inference service is not answering" in response.json()["error"]
