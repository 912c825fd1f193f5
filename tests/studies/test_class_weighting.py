"""Class weighting on the new-study form: balanced by default for an imbalanced dataset, passed to every trial."""

from __future__ import annotations

import optuna
import pytest
from django.urls import reverse

from platform_web.studies.models import Study
from platform_web.studies.space import default_class_weighting, space_summary
from platform_web.studies.trial_draw import suggest_config
from tests.studies.factories import make_ready_dataset, tiny_space
from tests.studies.test_form_and_pages import form_data

pytestmark = pytest.mark.django_db


def imbalanced(user, train: dict[str, int]):
    dataset = make_ready_dataset(user, classes=len(train))
    dataset.classes = list(train)
    dataset.class_counts = {name: {"train": n, "val": 2} for name, n in train.items()}
    dataset.save()
    return dataset


@pytest.mark.parametrize(
    ("train", "expected"),
    [({"cat": 40, "dog": 4}, "balanced"), ({"cat": 31, "dog": 10}, "balanced"), ({"cat": 30, "dog": 10}, "none"),
     ({"cat": 12, "dog": 10, "eel": 11}, "none"), ({"cat": 5, "dog": 0}, "balanced")],
)  # fmt: skip
def test_balanced_by_default_above_three_to_one(train, expected):
    assert default_class_weighting({name: {"train": n, "val": 1} for name, n in train.items()}) == expected


def test_the_form_proposes_balanced_weighting_for_an_imbalanced_dataset_and_says_why(alice_client, user):
    dataset = imbalanced(user, {"cat": 40, "dog": 4})
    page = alice_client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk}))
    assert page.context["form"].initial["class_weighting"] == "balanced"
    html = page.content.decode()
    assert "Class weighting" in html and "“cat” has 40 training images and “dog” 4 (10.0×)" in html
    balanced = imbalanced(user, {"cat": 10, "dog": 9})
    page = alice_client.get(reverse("studies:new", kwargs={"dataset_id": balanced.pk}))
    assert page.context["form"].initial["class_weighting"] == "none"
    even = imbalanced(user, {"cat": 7, "dog": 7})
    page = alice_client.get(reverse("studies:new", kwargs={"dataset_id": even.pk}))
    assert "Here every class has 7 training images." in page.content.decode()


def test_the_choice_is_stored_and_left_out_means_the_datasets_default(alice_client, user, enqueued):
    dataset = imbalanced(user, {"cat": 40, "dog": 4})
    url = reverse("studies:new", kwargs={"dataset_id": dataset.pk})
    assert alice_client.post(url, form_data(name="off", class_weighting="none")).status_code == 302
    assert alice_client.post(url, form_data(name="default")).status_code == 302  # a post without the field
    off, default = Study.objects.get(name="off"), Study.objects.get(name="default")
    assert off.space["class_weighting"] == "none" and default.space["class_weighting"] == "balanced"
    page = alice_client.get(reverse("studies:detail", kwargs={"study_id": default.pk})).content.decode()
    assert "<dt>class weighting</dt><dd>Balanced</dd>" in page
    assert ("Class weighting", "Balanced") in space_summary(default.space)


def test_every_trial_config_carries_the_studys_weighting():
    study = optuna.create_study()
    for weighting in ("balanced", "none"):
        _params, config = suggest_config(study.ask(), tiny_space(class_weighting=weighting), seed=0)
        assert config["class_weighting"] == weighting
