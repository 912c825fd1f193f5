"""Balanced accuracy and macro-F1 from a confusion matrix, and the model page showing them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from platform_web.trained_models.metrics import balanced_accuracy, macro_f1
from worker import model_jobs


def test_an_imbalanced_matrix_scores_lower_than_its_accuracy():
    # 90 images of class 0 all right, 10 of class 1 all called class 0: accuracy 0.9, but class 1 is never found
    matrix = [[90, 0], [10, 0]]
    assert balanced_accuracy(matrix) == pytest.approx(0.5)
    assert macro_f1(matrix) == pytest.approx((2 * 90 / (90 + 100) + 0.0) / 2)


def test_perfect_and_empty_classes():
    assert balanced_accuracy([[3, 0, 0], [0, 2, 0], [0, 0, 0]]) == 1.0  # a class without images is left out
    assert macro_f1([[3, 0, 0], [0, 2, 0], [0, 0, 0]]) == 1.0
    assert balanced_accuracy([[0]]) is None and macro_f1([]) is None
    # recall 2/3 and 1/1; precision 2/2 and 1/2: F1 0.8 and 2/3
    assert balanced_accuracy([[2, 1], [0, 1]]) == pytest.approx((2 / 3 + 1) / 2)
    assert macro_f1([[2, 1], [0, 1]]) == pytest.approx((0.8 + 2 / 3) / 2)


@pytest.mark.django_db
def test_the_model_page_shows_them(alice_client, trial):
    assert model_jobs.run_job(trial.pk, "evaluation") == "ready"
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, trial.number])).content.decode()
    assert 'id="balanced-accuracy">balanced accuracy ' in page and 'id="macro-f1">macro-F1 ' in page
