"""The live page's snapshot selector: curves, best-so-far, importance, and JSON-safe numbers."""

from __future__ import annotations

import json

import pytest

from platform_web.studies.live import MIN_TRIALS_FOR_IMPORTANCE, compute_importance, study_snapshot
from platform_web.studies.models import EpochMetric, Trial
from tests.live.builders import make_study

pytestmark = pytest.mark.django_db


def test_best_so_far_counts_completed_trials_only(user):
    study = make_study(user, trials=3)
    Trial.objects.create(study=study, number=3, state=Trial.State.PRUNED, params={"learning_rate": 0.01}, value=0.99)
    Trial.objects.filter(study=study, number=1).update(value=0.9)

    snapshot = study_snapshot(study.id)

    assert snapshot["best_so_far"] == [[0, 0.5], [1, 0.9], [2, 0.9], [3, 0.9]]
    assert [t["state"] for t in snapshot["trials"]] == ["completed", "completed", "completed", "pruned"]


def test_diverged_loss_is_sent_as_null(user):
    study = make_study(user, trials=0)
    trial = Trial.objects.create(study=study, number=0, state=Trial.State.DIVERGED, params={"learning_rate": 1.0})
    EpochMetric.objects.create(trial=trial, epoch=1, val_accuracy=0.1, val_loss=float("nan"))

    snapshot = study_snapshot(study.id)

    assert snapshot["trials"][0]["epochs"] == [[1, 0.1, None]]
    json.dumps(snapshot, allow_nan=False)  # raises on NaN/Infinity


def test_importance_waits_for_enough_completed_trials(user):
    study = make_study(user, trials=MIN_TRIALS_FOR_IMPORTANCE - 1)
    snapshot = study_snapshot(study.id)
    assert snapshot["importance"] is None
    assert snapshot["importance_based_on"] == MIN_TRIALS_FOR_IMPORTANCE - 1


def test_importance_finds_the_parameter_that_matters():
    results = []
    for i in range(40):
        lr = 10 ** (-5 + 4 * i / 39)
        params = {"learning_rate": lr, "batch_size": [16, 32, 64][i % 3], "optimizer": ["adam", "sgd"][(i // 3) % 2]}
        results.append((params, 1.0 - abs(-3 - (-5 + 4 * i / 39)) / 4))  # peaks at lr=1e-3
    importance = compute_importance(results)
    assert max(importance, key=importance.get) == "learning_rate"
    assert sum(importance.values()) == pytest.approx(1.0, abs=1e-3)


def test_completed_trials_with_a_model_link_their_download(user):
    study = make_study(user, trials=2)
    Trial.objects.filter(study=study, number=1).update(model_path="trials/k/model.pth")
    Trial.objects.create(study=study, number=2, state=Trial.State.PRUNED, model_path="trials/p/model.pth")

    rows = {t["number"]: t for t in study_snapshot(study.id)["trials"]}

    assert rows[1]["download_url"] == f"/studies/{study.id}/trials/1/download.pth"
    assert rows[1]["model_url"] == f"/studies/{study.id}/trials/1/model/"
    assert rows[0]["download_url"] == rows[2]["download_url"] == ""  # no model kept / not a completed trial
