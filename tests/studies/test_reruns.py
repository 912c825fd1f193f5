"""Re-running unsuccessful trials: the service's choices and refusals, the page's controls, and the worker running them."""

from __future__ import annotations

import math
import uuid
import warnings

import optuna
import pytest
from django.urls import reverse

from platform_web.studies import services
from platform_web.studies.models import Study, Trial
from platform_web.studies.serializers import trial_data
from tests.studies.factories import tiny_space
from trainer_api.schemas import EpochEvent, FinishedEvent, TrialResult, TrialStatus
from worker.studies.objective import Objective
from worker.studies.runner import enqueue_reruns

pytestmark = pytest.mark.django_db
optuna.logging.set_verbosity(optuna.logging.WARNING)

PARAMS = {"epochs": 2, "learning_rate": 0.009}


def make_study(owner, dataset, **fields) -> Study:
    values = {"owner": owner, "dataset": dataset, "name": "s", "space": tiny_space(), "n_trials": 8,
              "optuna_name": f"study-{uuid.uuid4()}", "state": "completed"}  # fmt: skip
    values.update(fields)
    return Study.objects.create(**values)


def add_trials(study: Study, *states: str) -> None:
    for number, state in enumerate(states):
        Trial.objects.create(study=study, number=number, state=state, value=0.5 if state == "completed" else None,
                             optuna_params={**PARAMS, "batch_size": 16 + number}, params={"learning_rate": 0.009})  # fmt: skip


def pending(study: Study) -> list[dict]:
    return Study.objects.get(pk=study.pk).pending_reruns


EVERY_ENDING = ("completed", "pruned", "failed", "diverged", "cancelled", "skipped", "running")


# --- the service ------------------------------------------------------------------------------------------


def test_every_unsuccessful_trial_runs_again_with_its_own_parameters(user, dataset, enqueued,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    study = make_study(user, dataset)
    add_trials(study, *EVERY_ENDING[:-1])  # a stopped study has nothing running
    with django_capture_on_commit_callbacks(execute=True):
        entries = services.rerun_trials(study=study)
    assert [e["number"] for e in entries] == [2, 3, 4, 5]  # failed, diverged, cancelled, skipped
    for entry in entries:
        assert entry["params"] == {**PARAMS, "batch_size": 16 + entry["number"]}  # the same parameters
        assert entry["note"] == f"re-run of #{entry['number']} with the same parameters"
    study.refresh_from_db()
    assert study.pending_reruns == entries and study.state == "queued" and enqueued == [(str(study.pk), 0)]
    assert study.n_trials == 8  # 3 counted (completed, pruned, diverged) + 4 fit the budget it had
    with pytest.raises(services.StudyError, match="no unsuccessful trial left to re-run"):
        services.rerun_trials(study=study)


def test_the_budget_grows_to_fit_the_reruns(user, dataset, enqueued):
    study = make_study(user, dataset, n_trials=2)
    add_trials(study, "completed", "diverged", "skipped")
    assert len(services.rerun_trials(study=study)) == 2
    assert Study.objects.get(pk=study.pk).n_trials == 4  # 2 counted + 2 re-runs


def test_a_running_study_takes_the_reruns_without_a_new_slot(user, dataset, enqueued):
    study = make_study(user, dataset, state="running")
    add_trials(study, *EVERY_ENDING)
    services.rerun_trials(study=study, numbers=[4])
    study.refresh_from_db()
    assert [e["number"] for e in study.pending_reruns] == [4] and study.state == "running" and enqueued == []


def test_a_diverged_trial_reruns_with_a_third_of_its_learning_rate(user, dataset, enqueued):
    study = make_study(user, dataset)
    add_trials(study, "completed", "diverged")
    Trial.objects.create(study=study, number=2, state="diverged", optuna_params={"learning_rate_sgd": 0.3})
    entries = services.rerun_trials(study=study, numbers=[1, 2], lower_lr=True)
    assert entries[0]["params"] == {**PARAMS, "batch_size": 17, "learning_rate": pytest.approx(0.003)}
    assert entries[0]["note"] == "re-run of #1 with learning rate lowered from 0.009 to 0.003"
    assert entries[1]["params"] == {"learning_rate_sgd": pytest.approx(0.1)}  # SGD's rate has its own name
    assert entries[1]["note"] == "re-run of #2 with learning rate lowered from 0.3 to 0.1"
    assert pending(study) == entries


def test_lowering_applies_to_the_diverged_ones_of_a_mixed_choice(user, dataset, enqueued):
    study = make_study(user, dataset)
    add_trials(study, "failed", "diverged")
    failed, diverged = services.rerun_trials(study=study, lower_lr=True)
    assert failed["params"]["learning_rate"] == 0.009 and failed["note"].endswith("the same parameters")
    assert diverged["params"]["learning_rate"] == pytest.approx(0.003) and "lowered" in diverged["note"]


@pytest.mark.parametrize(
    ("numbers", "lower_lr", "message"),
    [
        ([0], False, "Trial #0 is completed: only failed, diverged, cancelled or skipped trials can be re-run"),
        ([1], False, "Trial #1 is pruned: only failed"),
        ([6], False, "Trial #6 is running: only failed"),
        ([9], False, "The study has no trial #9"),
        ([2], True, "Only a diverged trial can be re-run with a lower learning rate"),
        ([4, 5], True, "Only a diverged trial"),
        ([7], False, "Trial #7 already ran again as trial #8"),
        ([10], False, "Trial #10 has no recorded parameters"),
        ([11], True, "Trial #11's learning rate is fixed by the search space"),
    ],
)
def test_refusals_say_why_and_queue_nothing(user, dataset, enqueued, numbers, lower_lr, message):
    study = make_study(user, dataset, state="running")
    add_trials(study, *EVERY_ENDING, "failed")  # 0-7
    Trial.objects.create(study=study, number=8, state="completed", retry_of=7)
    Trial.objects.create(study=study, number=10, state="failed", optuna_params={})
    Trial.objects.create(study=study, number=11, state="diverged", optuna_params={"batch_size": 16})
    with pytest.raises(services.StudyError, match=message):
        services.rerun_trials(study=study, numbers=numbers, lower_lr=lower_lr)
    assert pending(study) == [] and Study.objects.get(pk=study.pk).n_trials == 8


def test_a_trial_is_queued_once_and_nothing_runs_again_while_cancelling(user, dataset, enqueued):
    study = make_study(user, dataset, state="running")
    add_trials(study, "failed", "diverged")
    services.rerun_trials(study=study, numbers=[0])
    with pytest.raises(services.StudyError, match="Trial #0 is already queued to run again"):
        services.rerun_trials(study=study, numbers=[0])
    study.refresh_from_db()
    assert [t.number for t in services.rerunnable_trials(study)] == [1]
    Study.objects.filter(pk=study.pk).update(state="cancelling")
    with pytest.raises(services.StudyError, match="being cancelled; wait until it has stopped"):
        services.rerun_trials(study=study)
    assert [e["number"] for e in pending(study)] == [0]


def test_a_stopped_study_out_of_time_refuses_and_keeps_nothing(user, dataset, enqueued):
    study = make_study(user, dataset, n_trials=None, timeout_seconds=60, elapsed_seconds=61)
    add_trials(study, "skipped")
    with pytest.raises(services.StudyError, match="used up its time limit"):
        services.rerun_trials(study=study)
    assert pending(study) == [] and Study.objects.get(pk=study.pk).state == "completed"


# --- the page ---------------------------------------------------------------------------------------------


def rerun_trial_url(study: Study, number: int) -> str:
    return reverse("studies:rerun_trial", kwargs={"study_id": study.pk, "number": number})


def test_the_page_offers_one_button_for_every_unsuccessful_trial_and_asks_before_cancel(alice_client, user, dataset):
    study = make_study(user, dataset, state="running")
    add_trials(study, *EVERY_ENDING)
    text = alice_client.get(reverse("studies:detail", kwargs={"study_id": study.pk})).content.decode()
    assert "Re-run unsuccessful trials (4)" in text
    assert f'data-rerun-url="{rerun_trial_url(study, 999999999)}"' in text and "data-csrf-token=" in text
    cancel = text[text.index(reverse("studies:cancel", kwargs={"study_id": study.pk})) :].split(">")[0]
    assert 'data-confirm="Cancel this study?' in cancel
    assert "js/confirm.js" in text
    Study.objects.filter(pk=study.pk).update(state="cancelling")
    text = alice_client.get(reverse("studies:detail", kwargs={"study_id": study.pk})).content.decode()
    assert "Re-run unsuccessful trials" not in text


def test_posting_a_rows_rerun_queues_it_and_says_so(alice_client, user, dataset, enqueued):
    study = make_study(user, dataset, state="running")
    add_trials(study, "completed", "diverged", "cancelled")
    page = alice_client.post(rerun_trial_url(study, 1), {"lower_lr": "1"}, follow=True)
    assert page.redirect_chain == [(reverse("studies:detail", kwargs={"study_id": study.pk}), 302)]
    assert "Queued: re-run of #1 with learning rate lowered from 0.009 to 0.003." in page.content.decode()
    assert pending(study)[0]["params"]["learning_rate"] == pytest.approx(0.003)
    assert alice_client.get(rerun_trial_url(study, 2)).status_code == 405  # a control is a POST
    page = alice_client.post(rerun_trial_url(study, 0), follow=True)
    assert "Trial #0 is completed: only failed, diverged" in page.content.decode()  # the refusal as a message
    page = alice_client.post(reverse("studies:rerun", kwargs={"study_id": study.pk}), follow=True)
    assert "Queued: re-run of #2 with the same parameters." in page.content.decode()
    assert [e["number"] for e in pending(study)] == [1, 2]
    snapshot = alice_client.get(reverse("studies:snapshot", kwargs={"study_id": study.pk})).json()
    assert snapshot["study"]["pending_reruns"] == [1, 2]  # the table offers no second re-run of these
    assert {t["note"] for t in snapshot["trials"]} == {""}


def test_the_bulk_button_names_the_trials_it_queued(alice_client, user, dataset, enqueued):
    study = make_study(user, dataset)
    add_trials(study, "failed", "skipped", "completed")
    page = alice_client.post(reverse("studies:rerun", kwargs={"study_id": study.pk}), follow=True)
    assert "2 unsuccessful trials will run again: #0, #1." in page.content.decode()
    assert Study.objects.get(pk=study.pk).state == "queued"


def test_someone_elses_study_is_404_and_nothing_is_queued(client, other_user, user, dataset, enqueued):
    study = make_study(user, dataset)
    add_trials(study, "failed", "diverged")
    client.force_login(other_user)
    assert client.post(rerun_trial_url(study, 1), {"lower_lr": "1"}).status_code == 404
    assert client.post(reverse("studies:rerun", kwargs={"study_id": study.pk})).status_code == 404
    assert pending(study) == [] and Study.objects.get(pk=study.pk).state == "completed"


# --- the worker: a queued re-run trains with the queued parameters -----------------------------------------


class DivergingService:
    """The training service as the objective talks to it: above lr 0.005 the loss goes NaN, below it learns."""

    base_url = "http://trainer.test"

    def __init__(self) -> None:
        self.configs: dict[str, dict] = {}
        self.cancelled: list[str] = []

    def submit(self, key, dataset_path, config):
        self.configs[key] = dict(config)
        return TrialStatus(key=key, state="queued", epochs_done=0)

    def events(self, key, offset, read_timeout=None):
        config = self.configs[key]
        epochs = config["epochs"]
        diverges = config["learning_rate"] > 0.005
        for epoch in range(offset + 1, epochs + 1):
            loss = math.nan if diverges else 1.0 / epoch
            yield EpochEvent(type="epoch", offset=epoch - 1, epoch=epoch, epochs=epochs, train_loss=loss,
                             train_accuracy=0.5, val_loss=loss, val_accuracy=0.4 + 0.2 * epoch, seconds=0.1,
                             images_per_second=100.0, learning_rate=config["learning_rate"])  # fmt: skip
        result = TrialResult(status="completed", best_epoch=epochs, best_val_accuracy=0.4 + 0.2 * epochs)
        yield FinishedEvent(type="finished", offset=epochs, state="completed", result=result)

    def cancel(self, key):
        self.cancelled.append(key)


def run_trials(study: Study, optuna_study: optuna.Study, service: DivergingService, n: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Optuna: a lowered rate may lie below the searched range
        optuna_study.optimize(Objective(study.pk, 0, service), n_trials=n, catch=())


@pytest.mark.parametrize("lower_lr", [True, False], ids=["lowered-lr", "same-params"])
def test_the_worker_runs_a_rerun_of_a_diverged_trial_with_the_queued_parameters(user, dataset, lower_lr):
    study = make_study(user, dataset, state="running", n_trials=3)
    optuna_study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    optuna_study.enqueue_trial(PARAMS)
    service = DivergingService()
    run_trials(study, optuna_study, service, 1)
    first = Trial.objects.get(study=study, number=0)
    assert first.state == "diverged" and first.optuna_params == PARAMS and first.note == ""

    services.rerun_trials(study=study, numbers=[0], lower_lr=lower_lr)
    assert enqueue_reruns(study.pk, optuna_study) == 1  # what a slot does before its next trial
    assert pending(study) == []
    run_trials(study, optuna_study, service, 1)

    rerun = Trial.objects.get(study=study, number=1)
    rate = 0.003 if lower_lr else 0.009
    assert rerun.retry_of == 0 and rerun.params["learning_rate"] == pytest.approx(rate)
    assert rerun.optuna_params == {**PARAMS, "learning_rate": pytest.approx(rate)}
    assert service.configs[f"{study.pk}-1"]["learning_rate"] == pytest.approx(rate)  # what trained
    assert service.configs[f"{study.pk}-1"]["epochs"] == 2
    if lower_lr:
        assert rerun.state == "completed" and rerun.value == pytest.approx(0.8)  # the lower rate learns
        assert rerun.note == "re-run of #0 with learning rate lowered from 0.009 to 0.003"
    else:
        assert rerun.state == "diverged" and rerun.note == "re-run of #0 with the same parameters"
    assert trial_data(rerun)["note"] == rerun.note and trial_data(rerun)["retry_of"] == 0  # what the table shows
