"""Latency-aware goals (platform_web/studies/goals.py): a latency budget, and the accuracy-vs-latency Pareto front.

The trials run through the real objective (worker/studies/objective.py) against a fake training
service whose trials report a chosen accuracy and latency, on in-memory Optuna studies made the way
the runner makes them; the form, the page and the API through Django's test client.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import uuid
import warnings
from pathlib import Path

import optuna
import pytest
from django.core.management.base import CommandError
from django.urls import reverse

from platform_web.studies import closing, goals
from platform_web.studies.management.commands import run_study
from platform_web.studies.models import Study, Trial
from tests.studies.factories import tiny_space
from tests.studies.test_form_and_pages import post_new
from trainer_api.schemas import EpochEvent, FinishedEvent, TrialResult, TrialStatus
from worker.studies.objective import Objective
from worker.studies.pruning import make_pruner

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
optuna.logging.set_verbosity(optuna.logging.WARNING)

# Each trial's learning rate picks what it reports: (validation accuracy, latency in ms per image).
OUTCOMES = {0.009: (0.90, 12.0), 0.008: (0.80, 4.0), 0.007: (0.70, 2.0), 0.006: (0.60, 3.0), 0.005: (0.75, 4.5)}


class TimedService:
    """The training service as the objective sees it: two epochs, then the accuracy and latency of OUTCOMES."""

    base_url = "http://trainer.test"

    def __init__(self) -> None:
        self.configs: dict[str, dict] = {}

    def submit(self, key, dataset_path, config):
        self.configs[key] = dict(config)
        return TrialStatus(key=key, state="queued", epochs_done=0)

    def events(self, key, offset, read_timeout=None):
        accuracy, latency = OUTCOMES[round(self.configs[key]["learning_rate"], 6)]
        for epoch in (1, 2):
            yield EpochEvent(type="epoch", offset=epoch - 1, epoch=epoch, epochs=2, train_loss=0.5, train_accuracy=0.5,
                             val_loss=0.5, val_accuracy=accuracy * epoch / 2, seconds=0.1, images_per_second=100.0,
                             learning_rate=0.001)  # fmt: skip
        result = TrialResult(status="completed", best_epoch=2, best_val_accuracy=accuracy, latency_ms_batch1=latency,
                             model_path=f"trials/{key}/model.pth")  # fmt: skip
        yield FinishedEvent(type="finished", offset=2, state="completed", result=result)

    def cancel(self, key):
        pass


def make_study(owner, dataset, **space_changes) -> Study:
    return Study.objects.create(owner=owner, dataset=dataset, name="s", space=tiny_space(**space_changes), n_trials=9,
                                optuna_name=f"study-{uuid.uuid4()}", state="running")  # fmt: skip


def run(study: Study, *rates: float) -> optuna.Study:
    """The trials with these learning rates through the objective, on an Optuna study made as the runner makes it."""
    optuna_study = optuna.create_study(directions=goals.optuna_directions(study.space), pruner=make_pruner(study))
    for rate in rates:
        optuna_study.enqueue_trial({"epochs": 2, "learning_rate": rate})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        optuna_study.optimize(Objective(study.pk, 0, TimedService()), n_trials=len(rates), catch=())
    return optuna_study


def finish(study: Study, monkeypatch) -> Study:
    monkeypatch.setattr(closing, "live_slots", lambda *args: [])  # this was the last slot
    closing.finish_if_last(study.pk, "budget")
    return Study.objects.get(pk=study.pk)


# --- a latency budget -------------------------------------------------------------------------------------


def test_the_best_model_is_never_over_the_budget_and_optuna_knows_which_trials_are(
    user, dataset, alice_client, monkeypatch
):
    study = make_study(user, dataset, goal="latency_budget", max_latency_ms=5)
    optuna_study = run(study, 0.007, 0.009, 0.008, 0.005)  # 70 % at 2 ms, 90 % at 12 ms, 80 % at 4 ms, 75 % at 4.5
    study.refresh_from_db()
    assert study.best_trial.number == 2  # 80 % at 4 ms, not the 90 % one at 12 ms
    assert study.best_trial.latency_ms_batch1 == 4.0 and study.best_trial.value == pytest.approx(0.80)
    # The constraint (latency - budget, > 0 infeasible) reached Optuna: TPE files trial 1 with the bad ones.
    constraints = [t.constraints for t in optuna_study.trials]
    assert constraints[:3] == [{"latency_ms_batch1": -3.0}, {"latency_ms_batch1": 7.0}, {"latency_ms_batch1": -1.0}]
    # One objective, so the pruner still works: #3 trailed the median at the same point of its schedule.
    assert optuna_study.trials[3].state == optuna.trial.TrialState.PRUNED and constraints[3] == {}
    assert optuna_study.trials[1].system_attrs["constraints:latency_ms_batch1"] == 7.0
    assert optuna_study.best_trial.number == 2  # stock Optuna agrees
    assert finish(study, monkeypatch).state == "completed"

    page = post_login_pages(alice_client, study)
    assert "best accuracy within 5 ms per image" in page["detail"]
    assert "Within the latency budget of 5 ms per image" in page["detail"]
    assert "over budget" in open("static/js/study_live.js").read()  # the table marks the others (live-drawn)
    assert page["api"]["goal"] == {"goal": "latency_budget", "max_latency_ms": 5.0, "directions": ["maximize"],
                                   "text": "best accuracy within 5 ms per image"}  # fmt: skip
    assert page["api"]["best_trial"]["number"] == 2


def test_the_best_model_page_and_download_offer_the_model_within_budget(user, dataset, alice_client):
    study = make_study(user, dataset, goal="latency_budget", max_latency_ms=5)
    run(study, 0.009, 0.008)  # 90 % at 12 ms, 80 % at 4 ms
    best = alice_client.get(reverse("trained_models:best", kwargs={"study_id": study.pk}))
    assert best.url == reverse("trained_models:model", kwargs={"study_id": study.pk, "number": 1})
    # Even with no best trial recorded, the fallback never offers a model over the budget.
    Study.objects.filter(pk=study.pk).update(best_trial=None)
    best = alice_client.get(reverse("trained_models:best", kwargs={"study_id": study.pk}))
    assert best.url == reverse("trained_models:model", kwargs={"study_id": study.pk, "number": 1})
    Trial.objects.filter(study=study, number=1).update(latency_ms_batch1=6.0)
    assert alice_client.get(reverse("trained_models:best", kwargs={"study_id": study.pk})).status_code == 404


def test_no_trial_within_the_budget_says_so_and_offers_no_model(user, dataset, alice_client, monkeypatch):
    study = make_study(user, dataset, goal="latency_budget", max_latency_ms=1.5)
    run(study, 0.009, 0.006)  # 12 ms and 3 ms
    study.refresh_from_db()
    assert study.best_trial is None
    text = alice_client.get(reverse("studies:detail", kwargs={"study_id": study.pk})).content.decode()
    assert (
        "No trial met the latency budget of 1.5 ms per image. The fastest of the 2 completed trials, #1, takes 3 ms."
        in text
    )
    study = finish(study, monkeypatch)
    assert study.state == "failed" and study.error.startswith("No trial met the latency budget of 1.5 ms per image.")
    assert "Clone the study with a larger budget" in study.error


# --- the Pareto front -------------------------------------------------------------------------------------


def test_the_front_of_made_up_trials():
    points = [
        (0, 0.90, 12.0),  # the most accurate: on the front
        (1, 0.80, 4.0),  # on the front
        (2, 0.70, 2.0),  # the fastest: on the front
        (3, 0.60, 3.0),  # slower and less accurate than #2: dominated
        (4, 0.75, 4.5),  # slower and less accurate than #1: dominated
        (5, 0.80, 4.0),  # the same as #1: neither dominates the other, both kept
        (6, 0.90, 13.0),  # as accurate as #0 but slower: dominated
        (7, 0.70, 2.5),  # as accurate as #2 but slower: dominated
    ]
    assert goals.pareto_front(points) == {0, 1, 2, 5}
    assert goals.pareto_front([]) == set()
    assert goals.pareto_front([(3, 0.5, 1.0)]) == {3}


def test_a_pareto_study_has_two_objectives_no_pruner_and_draws_its_front(user, dataset, alice_client, monkeypatch):
    study = make_study(user, dataset, goal="pareto")
    assert isinstance(make_pruner(study), optuna.pruners.NopPruner)  # Optuna cannot prune two objectives
    optuna_study = run(study, 0.009, 0.008, 0.007, 0.006, 0.005)  # the objective reports to no pruner
    assert [t.values for t in optuna_study.trials[:3]] == [[0.9, 12.0], [0.8, 4.0], [0.7, 2.0]]
    assert {t.number for t in optuna_study.best_trials} == {0, 1, 2}
    trials = Trial.objects.filter(study=study)
    assert goals.front_numbers(trials) == {0, 1, 2}  # the platform's front is Optuna's
    study.refresh_from_db()
    assert study.best_trial.number == 0  # the most accurate, on the front

    page = alice_client.get(reverse("studies:detail", kwargs={"study_id": study.pk}))
    text = page.content.decode()
    assert 'id="chart-pareto"' in text and "js/study_pareto.js" in text and "accuracy vs latency (Pareto front)" in text
    points = json.loads(text.split('<script id="pareto-points" type="application/json">')[1].split("</script>")[0])
    assert [(p["number"], p["on_front"], p["latency_ms"]) for p in points] == [
        (0, True, 12.0), (1, True, 4.0), (2, True, 2.0), (3, False, 3.0), (4, False, 4.5)]  # fmt: skip
    assert points[1]["model_url"] == reverse("trained_models:model", kwargs={"study_id": study.pk, "number": 1})
    api = alice_client.get(reverse("api:study", kwargs={"study_id": study.pk})).json()
    assert api["pareto_front"] == [0, 1, 2] and api["goal"]["directions"] == ["maximize", "minimize"]
    assert finish(study, monkeypatch).state == "completed"


# --- the form, clone and the command line -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        ("", "Give the latency budget in milliseconds per image"),
        ("0", "must be a positive number of milliseconds"),
        ("-2", "must be a positive number of milliseconds"),
        ("fast", "Enter a number."),
    ],
)
def test_the_form_asks_for_a_positive_budget_and_says_why(alice_client, dataset, enqueued, budget, message):
    response = post_new(alice_client, dataset, goal="latency_budget", max_latency_ms=budget)
    assert response.status_code == 200 and Study.objects.count() == 0
    assert message in " ".join(response.context["form"].errors["max_latency_ms"])


def test_the_form_stores_the_goal_and_clone_keeps_it(alice_client, dataset, enqueued):
    response = post_new(alice_client, dataset, goal="latency_budget", max_latency_ms="2.5")
    assert response.status_code == 302
    study = Study.objects.get()
    assert study.space["goal"] == "latency_budget" and study.space["max_latency_ms"] == 2.5
    clone = alice_client.get(reverse("studies:new", kwargs={"dataset_id": dataset.pk}) + f"?from={study.pk}")
    initial = clone.context["form"].initial
    assert initial["goal"] == "latency_budget" and initial["max_latency_ms"] == 2.5
    assert "Latency budget (ms per image)" in clone.content.decode()


def test_a_pareto_form_runs_without_pruner_and_refuses_cmaes(alice_client, dataset, enqueued):
    refused = post_new(alice_client, dataset, goal="pareto", sampler="cmaes")
    assert "CMA-ES optimises one objective" in " ".join(refused.context["form"].errors["sampler"])
    assert post_new(alice_client, dataset, goal="pareto", pruner="hyperband", max_latency_ms="3").status_code == 302
    study = Study.objects.get()
    assert study.pruner == "none" and study.space["goal"] == "pareto" and study.space["max_latency_ms"] is None
    assert "every trial runs to its last epoch" in alice_client.get(
        reverse("studies:new", kwargs={"dataset_id": dataset.pk})).content.decode()  # fmt: skip


def test_studies_from_before_goals_look_for_the_best_accuracy(user, dataset):
    space = tiny_space()
    space.pop("goal"), space.pop("max_latency_ms")
    assert goals.goal_of(space) == "accuracy" and goals.optuna_directions(space) == ["maximize"]
    assert goals.latency_budget(space) is None and goals.goal_text(space) == "best accuracy"


def post_login_pages(client, study: Study) -> dict:
    detail = client.get(reverse("studies:detail", kwargs={"study_id": study.pk})).content.decode()
    api = client.get(reverse("api:study", kwargs={"study_id": study.pk})).json()
    return {"detail": detail, "api": api}


def test_run_study_takes_a_budget_or_the_pareto_goal(user, dataset, enqueued):
    options = {"arch": None, "trials": 3, "timeout": None, "name": "cli", "parallel": 1, "sampler": "tpe",
               "pruner": "hyperband", "seed": 0, "class_weighting": "auto", "goal": None, "max_latency_ms": 4.0}  # fmt: skip
    study = run_study.Command().start(dataset, user, options)
    assert study.space["goal"] == "latency_budget" and study.space["max_latency_ms"] == 4.0  # implied by the budget
    study = run_study.Command().start(dataset, user, {**options, "goal": "pareto", "max_latency_ms": None})
    assert study.space["goal"] == "pareto" and study.pruner == "none"
    with pytest.raises(CommandError, match="Give the latency budget in milliseconds"):
        run_study.Command().start(dataset, user, {**options, "goal": "latency_budget", "max_latency_ms": None})


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (make install needs it too)")
def test_the_page_marks_the_same_front_as_the_server():
    rng = random.Random(7)
    points = [(n, rng.choice([0.5, 0.6, 0.7, 0.8, 0.9]), rng.choice([1.0, 2.0, 3.5, 5.0, 8.0])) for n in range(60)]
    script = (
        "const P = require(process.argv[1]); const points = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify([...P.front(points.map(([number, value, latency_ms]) => "
        "({ number, value, latency_ms })))]));"
    )
    done = subprocess.run(["node", "-e", script, str(ROOT / "static/js/study_pareto.js"), json.dumps(points)],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert set(json.loads(done.stdout)) == goals.pareto_front(points)
    assert 1 < len(goals.pareto_front(points)) < 60
