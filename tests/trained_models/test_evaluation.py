"""Evaluation on the validation split: confusion matrix, per-class accuracy, misclassified gallery."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from platform_web.trained_models import services
from platform_web.trained_models.files import sha256_of
from tests.trained_models.builders import val_count
from worker import model_jobs

pytestmark = pytest.mark.django_db


def test_confusion_matrix_sums_to_the_validation_count(trial):
    result = model_jobs.evaluation_for(trial)
    expected = val_count(trial.study.dataset.directory)
    assert expected == 12
    assert sum(sum(row) for row in result["confusion_matrix"]) == expected == result["val_count"]
    assert [row["total"] for row in result["per_class"]] == [4, 4, 4]
    assert result["correct"] == sum(result["confusion_matrix"][i][i] for i in range(3))
    assert len(result["misclassified"]) == expected - result["correct"]
    # the platform's recorded validation accuracy is what the evaluation finds on the same images
    assert result["accuracy"] == pytest.approx(trial.value, abs=1e-9)
    # the three images drawn in another class's colour are among the mistakes
    wrong = {m["path"] for m in result["misclassified"]}
    assert {"files/val/blue/000.png", "files/val/green/000.png", "files/val/red/000.png"} <= wrong


def test_evaluation_is_computed_once_and_stored(trial, monkeypatch):
    first = model_jobs.evaluation_for(trial)

    def must_not_run(*args, **kwargs):
        raise AssertionError("evaluated twice")

    monkeypatch.setattr("worker.model_jobs.evaluate_model", must_not_run)
    assert model_jobs.evaluation_for(trial) == first


def test_evaluation_section_and_gallery(alice_client, trial):
    response = alice_client.get(reverse("trained_models:evaluation", args=[trial.study_id, 0]))
    assert response.status_code == 200
    assert response.json()["state"] == "ready"
    html = response.json()["html"]
    assert 'id="confusion-matrix"' in html
    result = services.cached_evaluation(trial)
    for mistake in result["misclassified"]:
        assert f"true <strong>{mistake['true']}</strong>" in html
        assert f"predicted <strong>{mistake['predicted']}</strong>" in html
    image = alice_client.get(reverse("trained_models:misclassified_image", args=[trial.study_id, 0, 0]))
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(b"".join(image.streaming_content)))
    assert max(thumb.size) <= services.THUMB_SIZE
    missing = alice_client.get(reverse("trained_models:misclassified_image", args=[trial.study_id, 0, 99]))
    assert missing.status_code == 404
    # once computed, the model page shows it without another request
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0])).content.decode()
    assert 'id="confusion-matrix"' in page


def test_deleted_dataset_gives_a_message_not_an_error(alice_client, trial, tmp_path):
    url = reverse("trained_models:evaluation", args=[trial.study_id, 0])
    kept = shutil.copytree(trial.study.dataset.directory, tmp_path / "kept")
    shutil.rmtree(trial.study.dataset.directory)
    response = alice_client.get(url)
    assert response.status_code == 409
    answer = response.json()
    assert answer["state"] == "failed"
    assert "dataset this model was trained on has been deleted" in answer["error"]
    assert "Try again" in answer["html"]
    # the failure is kept: the page says it instead of waiting for a result that will not come
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0])).content.decode()
    assert "dataset this model was trained on has been deleted" in page
    assert 'data-state="failed"' in page
    # once the images are back, "Try again" evaluates
    shutil.copytree(kept, trial.study.dataset.directory)
    assert alice_client.get(url).status_code == 409, "a GET alone does not forget the failure"
    again = alice_client.post(url, HTTP_ACCEPT="application/json")
    assert again.status_code == 200 and again.json()["state"] == "ready"
    assert 'id="confusion-matrix"' in again.json()["html"]


def test_unreadable_model_file_gives_a_message(alice_client, trial, settings):
    path = Path(settings.TRAINER_DATA_DIR) / trial.model_path
    path.write_bytes(b"not a model at all")
    trial.model_sha256 = sha256_of(path)
    trial.save()
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0]))
    assert page.status_code == 200
    assert "cannot be read as a model file" in page.content.decode()
    response = alice_client.get(reverse("trained_models:evaluation", args=[trial.study_id, 0]))
    assert response.status_code == 409
    assert "cannot be read as a model file" in response.json()["error"]
    response = alice_client.post(reverse("trained_models:export", args=[trial.study_id, 0, "onnx"]), follow=True)
    assert "cannot be read as a model file" in response.content.decode()
