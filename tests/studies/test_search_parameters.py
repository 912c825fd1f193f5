"""A searched number is declared once (trainer_api/engine/hyperparameters.py); the form, space and pages follow.

The test declares a new number, `dropout`, and checks that the new-study form asks for
it, the stored space keeps its range, every trial draws it inside that range, a clone
gets it back and the study page lists it, with no other code changed.
"""

from __future__ import annotations

import optuna
import pytest
from django.urls import reverse

from platform_web.studies import forms, space, trial_draw
from platform_web.studies.models import Study
from tests.studies.factories import ARCHITECTURES, space_values
from tests.studies.test_form_and_pages import form_data
from trainer_api.engine import hyperparameters
from trainer_api.engine.hyperparameters import Hyperparameter, SearchRange

optuna.logging.set_verbosity(optuna.logging.WARNING)

DROPOUT = Hyperparameter(
    "dropout", float, 0.0, "share of activations zeroed while training", 0.0, 1.0, high_open=True, table="drop",
    searches=(SearchRange("dropout", "Dropout", (0.0, 0.3), form_low=0, form_high=0.9, help="Zeroes activations."),),
)  # fmt: skip


@pytest.fixture
def with_dropout(monkeypatch):
    declared = (*hyperparameters.HYPERPARAMETERS, DROPOUT)
    ranges = (*hyperparameters.SEARCH_RANGES, (DROPOUT, DROPOUT.searches[0]))
    for module in (hyperparameters, space, trial_draw, forms):
        if hasattr(module, "HYPERPARAMETERS"):
            monkeypatch.setattr(module, "HYPERPARAMETERS", declared)
        if hasattr(module, "SEARCH_RANGES"):
            monkeypatch.setattr(module, "SEARCH_RANGES", ranges)
    monkeypatch.setattr(hyperparameters, "BY_NAME", {p.name: p for p in declared})


def test_a_declared_number_reaches_the_form_the_space_the_trials_and_the_pages(with_dropout, alice_client, dataset):
    page = alice_client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk}))
    html = page.content.decode()
    assert 'name="dropout_min"' in html and 'name="dropout_max"' in html and "Zeroes activations." in html
    assert page.context["form"].initial["dropout_max"] == 0.3

    refused = alice_client.post(
        reverse("studies:new", kwargs={"dataset_id": dataset.pk}), form_data(dropout_min=0.5, dropout_max=0.1)
    )
    assert "The dropout range is empty" in refused.content.decode()

    response = alice_client.post(
        reverse("studies:new", kwargs={"dataset_id": dataset.pk}), form_data(dropout_min=0.05, dropout_max=0.25)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    study = Study.objects.get()
    assert study.space["dropout"] == [0.05, 0.25]

    optuna_study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    drawn = []
    for _ in range(20):
        trial = optuna_study.ask()
        params, config = trial_draw.suggest_config(trial, study.space, seed=0)
        optuna_study.tell(trial, 0.5)
        assert params["dropout"] == config["dropout"]
        drawn.append(config["dropout"])
    assert all(0.05 <= value <= 0.25 for value in drawn) and len(set(drawn)) == 20

    assert space.form_values_from_space(study)["dropout_min"] == 0.05
    detail = alice_client.get(reverse("studies:detail", kwargs={"study_id": study.pk})).content.decode()
    assert "<dt>dropout</dt><dd>0.05 to 0.25</dd>" in detail and '"dropout": "drop"' in detail
    assert "`dropout`" in hyperparameters.markdown_table()


def test_a_range_that_applies_only_to_sgd_is_not_checked_without_sgd():
    values = space_values(optimizers=["adam"], learning_rate_sgd_min=5.0, learning_rate_sgd_max=1.0)
    form = forms.StudyForm(
        data={**form_data(), **values}, architectures=[{"name": "simple_cnn", "min_input_size": 1}], parallel_allowed=1
    )
    assert form.is_valid(), form.errors
    space_built = space.build_space(form.cleaned_data, ARCHITECTURES)
    trial = optuna.create_study().ask()
    params, _ = trial_draw.suggest_config(trial, space_built, seed=0)
    assert "learning_rate_sgd" not in trial.params and 1e-3 <= params["learning_rate"] <= 1e-2
