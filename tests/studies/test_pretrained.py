"""Pretrained weights on the new-study form: offered only where the training service has them, else how to add them."""

from __future__ import annotations

import optuna
import pytest
from django.urls import reverse

from platform_web.studies import selectors, space, trial_draw
from platform_web.studies.models import Study
from tests.studies.factories import ARCHITECTURES, make_ready_dataset
from tests.studies.test_form_and_pages import form_data, post_new

pytestmark = pytest.mark.django_db
optuna.logging.set_verbosity(optuna.logging.WARNING)

# The pretrained ranges the form asks for once pretrained is on (their declared defaults).
PRETRAINED_RANGES = {"learning_rate_pretrained_min": 1e-4, "learning_rate_pretrained_max": 3e-3,
                     "learning_rate_sgd_pretrained_min": 1e-3, "learning_rate_sgd_pretrained_max": 3e-2,
                     "freeze_epochs_max": 2}  # fmt: skip
WITH_RESNET_WEIGHTS = [dict(a, pretrained_weights=a["name"] == "resnet18") for a in ARCHITECTURES]


@pytest.fixture
def resnet_weights(monkeypatch):
    """The training service reports weights for resnet18 (and none for the others)."""
    monkeypatch.setattr(
        selectors,
        "trainer_capabilities",
        lambda: {"device_type": "cpu", "device": "cpu", "architectures": WITH_RESNET_WEIGHTS, "reachable": True},
    )


def new_page(client, dataset) -> str:
    return client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk})).content.decode()


def test_without_weights_pretrained_is_not_offered_and_the_page_says_how_to_add_them(alice_client, dataset, enqueued):
    html = new_page(alice_client, dataset)
    assert '<select name="pretrained"' not in html and 'type="hidden" name="pretrained" value="off"' in html
    assert "learning_rate_pretrained_min" not in html and "freeze_epochs_max" not in html
    assert "Pretrained weights: none on the training service" in html
    assert "python manage.py import_weights FILE --arch NAME" in html

    refused = post_new(alice_client, dataset, architectures=["resnet18"], input_sizes=[32], pretrained="on")
    assert refused.status_code == 200 and not Study.objects.exists() and not enqueued
    page = refused.content.decode()
    assert "No architecture has pretrained weights on the training service" in page
    assert "python manage.py import_weights FILE --arch NAME" in page and "resnet18" in page

    started = post_new(alice_client, dataset)  # pretrained left out: off, every network from scratch
    assert started.status_code == 302
    stored = Study.objects.get().space
    assert stored["pretrained"] == "off"
    trial = optuna.create_study().ask()
    params, config = trial_draw.suggest_config(trial, stored, seed=0)
    assert config["pretrained"] is False and config["freeze_epochs"] == 0 and "pretrained" not in params


def test_with_weights_the_form_offers_them_and_defaults_to_fine_tuning(alice_client, user, resnet_weights):
    dataset = make_ready_dataset(user, size=32)
    page = alice_client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk}))
    html = page.content.decode()
    assert (
        '<select name="pretrained"' in html
        and "resnet18 (inputs ≥ 32 px, 11.00 M parameters, pretrained weights)" in html
    )
    assert "Start resnet18 from ImageNet weights" in html
    assert "To add weights for densenet121, mobilenet_v3_small, efficientnet_b0" in html  # and how
    initial = page.context["form"].initial
    assert initial["architectures"] == ["small_resnet", "bn_cnn", "resnet18"] and initial["pretrained"] == "on"
    assert initial["learning_rate_pretrained_max"] == 3e-3


def test_pretrained_needs_a_chosen_network_with_weights(alice_client, dataset, resnet_weights, enqueued):
    refused = post_new(alice_client, dataset, architectures=["simple_cnn"], pretrained="search")
    errors = refused.context["form"].errors
    assert "Pretrained weights exist only for resnet18" in " ".join(errors["pretrained"])
    assert not Study.objects.exists()


def test_a_pretrained_study_fine_tunes_first_and_draws_lower_learning_rates(alice_client, dataset, resnet_weights):
    response = post_new(alice_client, dataset, architectures=["small_resnet", "resnet18"], input_sizes=[32],
                        optimizers=["adamw"], pretrained="on", **PRETRAINED_RANGES)  # fmt: skip
    assert response.status_code == 302, response.context["form"].errors
    stored = Study.objects.get().space
    assert stored["pretrained_architectures"] == ["resnet18"]
    assert stored["learning_rate_pretrained"] == [1e-4, 3e-3] and stored["freeze_epochs"] == [0.0, 2.0]
    names = [entry["name"] for entry in stored["portfolio"]]
    assert names == ["Quick start (small_resnet)", "Fine-tune resnet18 (pretrained)", "ResNet-9, long one-cycle"]
    fine_tune = stored["portfolio"][1]
    assert fine_tune["params"] == {"architecture": "resnet18", "epochs": 1, "learning_rate_pretrained": 1e-3,
                                   "freeze_epochs": 1}  # fmt: skip
    assert sum(entry["share"] for entry in stored["portfolio"]) <= 1.0

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        params, config = trial_draw.suggest_config(trial, stored, seed=0)
        study.tell(trial, 0.5)
        seen.add(config["architecture"])
        if config["architecture"] == "resnet18":
            assert config["pretrained"] is True and params["pretrained"] is True
            assert 1e-4 <= config["learning_rate"] <= 3e-3 and 0 <= config["freeze_epochs"] <= 2
        else:
            assert config["pretrained"] is False and config["freeze_epochs"] == 0
            assert 3e-4 <= config["learning_rate"] <= 1e-2
    assert seen == {"small_resnet", "resnet18"}
    detail = alice_client.get(reverse("studies:detail", kwargs={"study_id": Study.objects.get().pk})).content.decode()
    assert "<dt>pretrained</dt><dd>on for resnet18</dd>" in detail


def test_a_clone_keeps_the_pretrained_choice(alice_client, dataset, resnet_weights):
    post_new(
        alice_client, dataset, architectures=["resnet18"], input_sizes=[32], pretrained="search", **PRETRAINED_RANGES
    )
    study = Study.objects.get()
    assert space.form_values_from_space(study)["pretrained"] == "search"
    assert "pretrained" in space.searched_choices(study.space)
    assert form_data()["architectures"] == ["simple_cnn"]  # (the shared form data stay without pretrained)
