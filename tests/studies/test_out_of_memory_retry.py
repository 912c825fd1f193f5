"""A trial the training service retried with half the batch size after running out of GPU memory, as the study shows it."""

from __future__ import annotations

import uuid

import optuna
import pytest

from platform_web.studies.models import Study, Trial
from platform_web.studies.serializers import trial_data
from tests.studies.factories import tiny_space
from trainer_api.schemas import EpochEvent, FinishedEvent, TrialResult, TrialStatus
from worker.studies.objective import Objective, TrialFailed

pytestmark = pytest.mark.django_db
optuna.logging.set_verbosity(optuna.logging.WARNING)

RETRY = {"failed_batch_size": 32, "batch_size": 16, "error": "CUDA out of memory. Tried to allocate 2.00 GiB"}
TWICE = (
    "Out of device memory at batch size 16 too (CUDA out of memory. Tried to allocate 1.00 GiB), after batch size "
    "32 ran out and was retried once with half: choose a smaller batch size, input size or network, or a device "
    "with more memory"
)


class ShortOfMemoryService:
    """The training service as the objective reads it: each trial ends as `finished` says."""

    base_url = "http://trainer.test"

    def __init__(self, finished: FinishedEvent) -> None:
        self.finished = finished
        self.submitted: list[str] = []

    def submit(self, key, dataset_path, config):
        self.submitted.append(key)
        return TrialStatus(key=key, state="queued", epochs_done=0)

    def events(self, key, offset, read_timeout=None):
        if self.finished.state == "completed":
            yield EpochEvent(type="epoch", offset=0, epoch=1, epochs=1, train_loss=0.5, train_accuracy=0.8,
                             val_loss=0.4, val_accuracy=0.75, seconds=0.1, images_per_second=100.0,
                             learning_rate=0.001)  # fmt: skip
        yield self.finished.model_copy(update={"offset": 1 if self.finished.state == "completed" else 0})

    def cancel(self, key):
        pass


def run_one(user, dataset, service) -> tuple[Study, optuna.Study]:
    study = Study.objects.create(owner=user, dataset=dataset, name="s", space=tiny_space(), n_trials=1,
                                 optuna_name=f"study-{uuid.uuid4()}", state="running")  # fmt: skip
    optuna_study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    optuna_study.optimize(Objective(study.pk, 0, service), n_trials=1, catch=(TrialFailed,))
    return study, optuna_study


def test_a_trial_retried_with_half_the_batch_says_so_on_its_row_and_to_optuna(user, dataset):
    result = TrialResult(status="completed", best_epoch=1, best_val_accuracy=0.75, epochs_run=1, batch_size=16,
                         out_of_memory_retry=RETRY)  # fmt: skip
    service = ShortOfMemoryService(FinishedEvent(type="finished", offset=1, state="completed", result=result))
    study, optuna_study = run_one(user, dataset, service)
    row = Trial.objects.get(study=study, number=0)
    assert row.state == "completed" and row.value == pytest.approx(0.75)
    assert row.note == "ran out of GPU memory at batch size 32: trained with batch size 16"
    assert trial_data(row)["note"] == row.note  # what the trial table shows
    frozen = optuna_study.trials[0]
    assert frozen.state == optuna.trial.TrialState.COMPLETE
    assert frozen.user_attrs["batch_size_used"] == 16


def test_a_trial_without_a_memory_retry_has_no_note(user, dataset):
    result = TrialResult(status="completed", best_epoch=1, best_val_accuracy=0.75, epochs_run=1, batch_size=32)
    service = ShortOfMemoryService(FinishedEvent(type="finished", offset=1, state="completed", result=result))
    study, optuna_study = run_one(user, dataset, service)
    assert Trial.objects.get(study=study, number=0).note == ""
    assert "batch_size_used" not in optuna_study.trials[0].user_attrs


def test_out_of_memory_after_the_retry_fails_the_trial_with_the_advice_and_is_not_retried_again(user, dataset):
    service = ShortOfMemoryService(FinishedEvent(type="finished", offset=0, state="failed", error=TWICE))
    study, optuna_study = run_one(user, dataset, service)
    row = Trial.objects.get(study=study, number=0)
    assert row.state == "failed" and row.error == TWICE
    assert optuna_study.trials[0].state == optuna.trial.TrialState.FAIL
    assert len(service.submitted) == 1 and Trial.objects.filter(study=study).count() == 1
