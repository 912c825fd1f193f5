"""Compare: trials and studies side by side; only the user's own, malformed references ignored."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from platform_web.core import formatting
from tests.trained_models.builders import install_trial

pytestmark = pytest.mark.django_db


def test_two_trials_side_by_side_with_their_curves(alice_client, trained, trial, user):
    second = install_trial(trained, user, study=trial.study, number=1)
    url = reverse("trained_models:compare")
    response = alice_client.get(url, {"t": [f"{trial.study_id}:0", f"{trial.study_id}:1", "junk", "x:y"]})
    assert response.status_code == 200
    context = response.context
    assert [t.pk for t in context["trials"]] == [trial.pk, second.pk]
    data = json.loads(response.content.decode().split('id="compare-data" type="application/json">')[1].split("<")[0])
    assert [len(curve["epochs"]) for curve in data["trials"]] == [trial.epochs.count(), second.epochs.count()]
    rows = {row["label"]: row for row in context["metric_rows"]}
    assert rows["Validation accuracy"]["cells"][0]["text"] == formatting.percent(trial.value)  # as every page writes it
    assert 'id="compare-table"' in response.content.decode()


def test_a_study_brings_its_best_trial_and_best_so_far_curve(alice_client, trial):
    response = alice_client.get(reverse("trained_models:compare"), {"s": str(trial.study_id)})
    assert [t.pk for t in response.context["trials"]] == [trial.pk]
    points = response.context["chart_data"]["studies"][0]["points"]
    assert points == [{"trial": 0, "value": trial.value, "best": trial.value}]
    assert "Pick at least one more" in response.content.decode()


def test_another_users_trials_are_not_shown(client, other_user, trial):
    client.force_login(other_user)
    response = client.get(reverse("trained_models:compare"), {"t": f"{trial.study_id}:0", "s": str(trial.study_id)})
    assert response.status_code == 200
    assert response.context["trials"] == []
    assert trial.study.name not in response.content.decode()
