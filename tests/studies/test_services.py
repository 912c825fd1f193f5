"""Study controls as services: state transitions, refusals with messages, re-runs, delete."""

from __future__ import annotations

import uuid

import pytest

from platform_web.studies import services
from platform_web.studies.models import Study, StudyEvent, Trial
from platform_web.studies.slots import SlotLease
from tests.studies.factories import tiny_space

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _leases_in_test_redis(settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url


def start(user, dataset, **kwargs) -> Study:
    values = {"owner": user, "dataset": dataset, "name": "s", "space": tiny_space(), "n_trials": 2,
              "timeout_seconds": None}  # fmt: skip
    values.update(kwargs)
    return services.start_study(**values)


def test_start_refuses_parallel_trials_on_sqlite(user, dataset, enqueued):
    with pytest.raises(services.StudyError, match="PostgreSQL"):
        start(user, dataset, parallel_trials=2)


def test_start_refuses_someone_elses_or_unready_dataset(user, other_user, dataset, enqueued):
    with pytest.raises(services.StudyError, match="your own datasets"):
        start(other_user, dataset)
    dataset.status = "failed"
    dataset.save()
    with pytest.raises(services.StudyError, match="wait until it is ready"):
        start(user, dataset)


def test_start_token_makes_a_second_start_return_the_first_study(user, dataset, enqueued,
                                                                  django_capture_on_commit_callbacks):  # fmt: skip
    token = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        first = start(user, dataset, start_token=token)
        second = start(user, dataset, start_token=token)
    assert first.pk == second.pk and Study.objects.count() == 1 and len(enqueued) == 1
    assert StudyEvent.objects.filter(study=first, type="study.state").count() == 1


def test_cancel_without_a_live_slot_is_immediate(user, dataset, enqueued):
    study = start(user, dataset)
    Trial.objects.create(study=study, number=0, state="running", trainer_key="nowhere-0")
    cancelled = services.cancel_study(study=study)
    assert cancelled.state == "cancelled" and cancelled.finished_at is not None
    assert Trial.objects.get(study=study).state == "cancelled"  # nothing left running
    states = [e.payload["state"] for e in StudyEvent.objects.filter(study=study, type="study.state")]
    assert states == ["queued", "cancelling", "cancelled"]
    with pytest.raises(services.StudyError, match="only a queued or running study"):
        services.cancel_study(study=study)


def test_cancel_with_a_live_slot_waits_for_the_slot(user, dataset, enqueued):
    study = start(user, dataset)
    lease = SlotLease(study.pk, 0)
    assert lease.acquire()
    try:
        assert services.cancel_study(study=study).state == "cancelling"
    finally:
        lease.release()


def test_resume_needs_budget_left(user, dataset, enqueued, django_capture_on_commit_callbacks):
    study = start(user, dataset, n_trials=1)
    Study.objects.filter(pk=study.pk).update(state="running")
    with pytest.raises(services.StudyError, match="only a stopped study"):
        services.resume_study(study=study)
    Study.objects.filter(pk=study.pk).update(state="cancelled")
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.resume_study(study=study)
    assert Study.objects.get(pk=study.pk).state == "queued" and enqueued == [(str(study.pk), 0)]
    Trial.objects.create(study=study, number=0, state="completed", value=0.5)
    Study.objects.filter(pk=study.pk).update(state="completed")
    with pytest.raises(services.StudyError, match="already ran its 1 trials"):
        services.resume_study(study=study)


def test_rerun_trials_queues_failed_parameters_and_grows_the_budget(user, dataset, enqueued):
    study = start(user, dataset, n_trials=2)
    Trial.objects.create(study=study, number=0, state="completed", value=0.5)
    Trial.objects.create(study=study, number=1, state="pruned")
    Trial.objects.create(study=study, number=2, state="failed", optuna_params={"learning_rate": 0.004}, error="boom")
    Study.objects.filter(pk=study.pk).update(state="completed")
    assert len(services.rerun_trials(study=study)) == 1
    study.refresh_from_db()
    assert study.pending_reruns == [
        {"number": 2, "params": {"learning_rate": 0.004}, "note": "re-run of #2 with the same parameters"}
    ]
    assert study.n_trials == 3 and study.state == "queued"
    with pytest.raises(services.StudyError, match="no unsuccessful trial left"):
        services.rerun_trials(study=study)


def test_delete_removes_records_and_trial_files(user, dataset, enqueued, settings):
    study = start(user, dataset)
    Trial.objects.create(study=study, number=0, state="completed", trainer_key=f"{study.pk}-0")
    folder = settings.TRAINER_DATA_DIR / "trials" / f"{study.pk}-0"
    folder.mkdir(parents=True)
    (folder / "model.pth").write_bytes(b"weights")
    with pytest.raises(services.StudyError, match="Cancel the study"):
        services.delete_study(study=study)
    Study.objects.filter(pk=study.pk).update(state="completed")
    study.refresh_from_db()
    services.delete_study(study=study)
    assert not Study.objects.filter(pk=study.pk).exists() and not Trial.objects.exists()
    assert not folder.exists()
