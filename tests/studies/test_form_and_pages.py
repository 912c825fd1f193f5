"""The new-study form, the pages and the JSON API, through Django's test client (no worker needed)."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from platform_web.studies.models import Study, Trial
from tests.studies.factories import make_ready_dataset, space_values, tiny_space

pytestmark = pytest.mark.django_db


def form_data(**changes) -> dict:
    values = space_values()
    values.update(
        {"start_token": str(uuid.uuid4()), "name": "search", "n_trials": 5, "timeout_minutes": "", "parallel_trials": 1,
         "sampler": "tpe", "pruner": "median", "seed": 0}
    )  # fmt: skip
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def post_new(client, dataset, **changes):
    return client.post(reverse("studies:new", kwargs={"dataset_id": dataset.pk}), form_data(**changes))


def test_form_defaults_fit_the_dataset_and_a_cpu(alice_client, user):
    dataset = make_ready_dataset(user, size=28)
    page = alice_client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk}))
    assert page.status_code == 200
    initial = page.context["form"].initial
    assert initial["input_sizes"] == [28]  # the images' median side
    assert initial["architectures"] == ["small_resnet", "bn_cnn"]  # the small-image families on CPU
    assert initial["epochs_min"] <= initial["epochs_max"]
    assert b"Start the study" in page.content


def test_valid_form_starts_one_study_and_enqueues_its_slot(
    alice_client, dataset, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_new(alice_client, dataset)
    study = Study.objects.get()
    assert response.status_code == 302 and response.url == reverse("studies:detail", kwargs={"study_id": study.pk})
    assert study.state == "queued" and study.n_trials == 5
    (entry,) = study.space["portfolio"]  # only simple_cnn chosen: one known-good start
    assert entry["params"]["learning_rate"] == 3e-3
    assert enqueued == [(str(study.pk), 0)]


def test_double_submit_starts_one_study(alice_client, dataset, enqueued, django_capture_on_commit_callbacks):
    data = form_data()
    url = reverse("studies:new", kwargs={"dataset_id": dataset.pk})
    with django_capture_on_commit_callbacks(execute=True):
        first = alice_client.post(url, data)
        second = alice_client.post(url, data)
    assert Study.objects.count() == 1
    assert first.url == second.url
    assert len(enqueued) == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"epochs_min": 5, "epochs_max": 2}, "epochs_max", "range is empty"),
        ({"architectures": ["resnet18"], "input_sizes": [16, 24]}, "architectures", "needs inputs of at least 32 px"),
        ({"learning_rate_min": 0}, "learning_rate_min", "log scale"),
        ({"learning_rate_min": 1e-2, "learning_rate_max": 1e-3}, "learning_rate_max", "range is empty"),
        ({"weight_decay_min": 0, "weight_decay_max": 1e-3}, "weight_decay_min", "cannot start at 0"),
        ({"n_trials": "", "timeout_minutes": ""}, "n_trials", "Give the study a budget"),
        ({"parallel_trials": 2}, "parallel_trials", "Use PostgreSQL"),
        ({"sampler": "cmaes", "optimizers": ["adam", "sgd"]}, "sampler", "CMA-ES searches numeric ranges only"),
        (
            {"augment": "on", "augment_strength_min": 0.9, "augment_strength_max": 0.1},
            "augment_strength_max",
            "range is empty",
        ),
    ],
)
def test_impossible_spaces_are_refused_with_a_message(alice_client, dataset, enqueued, changes, field, message):
    response = post_new(alice_client, dataset, **changes)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert message in response.content.decode()
    assert not Study.objects.exists() and not enqueued


def test_cmaes_accepts_a_numeric_space(alice_client, dataset, enqueued):
    response = post_new(alice_client, dataset, sampler="cmaes")
    assert response.status_code == 302
    assert Study.objects.get().sampler == "cmaes"


def test_a_dataset_that_is_not_ready_cannot_start_a_study(alice_client, dataset):
    dataset.status = "processing"
    dataset.save()
    response = alice_client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk}))
    assert response.status_code == 302


def make_study(owner, dataset, **fields) -> Study:
    values = {"owner": owner, "dataset": dataset, "name": "s", "space": tiny_space(), "n_trials": 3,
              "optuna_name": f"study-{uuid.uuid4()}"}  # fmt: skip
    values.update(fields)
    return Study.objects.create(**values)


def test_other_users_get_404_everywhere(client, other_user, user, dataset):
    study = make_study(user, dataset)
    client.force_login(other_user)
    for name in ("detail", "snapshot", "delete", "clone"):
        assert client.get(reverse(f"studies:{name}", kwargs={"study_id": study.pk})).status_code == 404, name
    for name in ("cancel", "resume", "rerun"):
        assert client.post(reverse(f"studies:{name}", kwargs={"study_id": study.pk})).status_code == 404, name
    assert client.get(reverse("api:study", kwargs={"study_id": study.pk})).status_code == 404
    assert client.get(reverse("api:study_trials", kwargs={"study_id": study.pk})).status_code == 404
    assert client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk})).status_code == 404
    assert client.get(reverse("api:studies")).json() == {"studies": []}
    assert Study.objects.get(pk=study.pk).state == "queued"


def test_api_needs_a_session(client, user, dataset):
    study = make_study(user, dataset)
    assert client.get(reverse("api:studies")).status_code == 401
    assert client.get(reverse("api:study", kwargs={"study_id": study.pk})).status_code == 401


def test_detail_page_and_api_show_trials(alice_client, user, dataset):
    study = make_study(user, dataset, state="completed", trials_completed=1, trials_failed=1)
    good = Trial.objects.create(study=study, number=0, state="completed", value=0.75, epochs_planned=2,
                                epochs_done=2, params={"architecture": "simple_cnn", "learning_rate": 0.001})  # fmt: skip
    Trial.objects.create(study=study, number=1, state="failed", error="CUDA out of memory", epochs_planned=2,
                         optuna_params={"learning_rate": 0.001})  # fmt: skip
    study.best_trial = good
    study.save()
    page = alice_client.get(reverse("studies:detail", kwargs={"study_id": study.pk}))
    text = page.content.decode()
    assert "75.0%" in text and "Re-run unsuccessful trials (1)" in text and 'id="live-trials-body"' in text
    assert "trials-body" not in text.replace("live-trials-body", "")  # one trial table, drawn by study_live.js
    snapshot = alice_client.get(reverse("studies:snapshot", kwargs={"study_id": study.pk})).json()
    assert snapshot["study"]["state"] == "completed" and snapshot["study"]["best_trial"]["number"] == 0
    assert [t["error"] for t in snapshot["trials"]] == ["", "CUDA out of memory"]
    listing = alice_client.get(reverse("api:studies")).json()["studies"]
    assert [s["id"] for s in listing] == [str(study.pk)]
    assert listing[0]["best_trial"]["value"] == 0.75
    trials = alice_client.get(reverse("api:study_trials", kwargs={"study_id": study.pk})).json()["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [(0, "completed"), (1, "failed")]


def test_clone_fills_the_form_from_the_study(alice_client, user, dataset):
    study = make_study(user, dataset, n_trials=7, seed=3)
    response = alice_client.get(reverse("studies:clone", kwargs={"study_id": study.pk}), follow=True)
    initial = response.context["form"].initial
    assert initial["n_trials"] == 7 and initial["seed"] == 3 and initial["name"].endswith("(copy)")


def test_the_dataset_page_links_to_a_new_study(alice_client, dataset):
    page = alice_client.get(reverse("datasets:detail", kwargs={"dataset_id": dataset.pk}))
    assert page.status_code == 200
    assert reverse("studies:new", kwargs={"dataset_id": dataset.pk}) in page.content.decode()
