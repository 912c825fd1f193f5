"""The copy-paste snippet, run in a fresh interpreter on the downloaded `.pth`, agrees with the platform."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trained_models.snippet_runner import downloaded_with_snippet, run_snippet
from worker import model_jobs

pytestmark = pytest.mark.django_db


def test_snippet_predicts_the_platforms_classes_on_the_validation_images(alice_client, trial, tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    name = downloaded_with_snippet(alice_client, trial, folder)
    evaluation = model_jobs.evaluation_for(trial)
    dataset_dir = Path(trial.study.dataset.directory)
    images = [dataset_dir / p for p in evaluation["paths"]]
    lines = run_snippet(folder, name, images)
    assert len(lines) == len(images) == 12
    names = evaluation["class_names"]
    for line, predicted, confidence in zip(lines, evaluation["predicted"], evaluation["confidences"], strict=True):
        top = line["predictions"][0]
        assert top["class_name"] == names[predicted], line["image"]
        assert top["probability"] == pytest.approx(confidence, abs=1e-4)
        assert len(line["predictions"]) == 3  # top-5 of a three-class model
