"""A running study with no live slot and nothing happening for a while shows as stalled and can be resumed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from platform_web.studies import conf, records, services
from platform_web.studies.models import Study, StudyEvent, Trial
from platform_web.studies.serializers import study_data
from platform_web.studies.slots import SlotLease
from platform_web.studies.stalls import stalled_seconds
from tests.studies.factories import tiny_space

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _leases_in_test_redis(settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url


def running_study(user, dataset, *, quiet: float, ran: float = 600) -> Study:
    """A study that has run `ran` seconds, the last `quiet` of them without an event, with one trial running."""
    study = services.start_study(owner=user, dataset=dataset, name="overnight", space=tiny_space(), n_trials=4,
                                 timeout_seconds=3600)  # fmt: skip
    records.set_state(study.pk, Study.State.RUNNING)
    Trial.objects.create(study=study, number=0, state="running", epochs_planned=4, epochs_done=2, params={"lr": 0.01})
    now = timezone.now()
    StudyEvent.objects.filter(study=study).update(created_at=now - timedelta(seconds=quiet))
    Study.objects.filter(pk=study.pk).update(run_started_at=now - timedelta(seconds=ran))
    return Study.objects.get(pk=study.pk)


def test_a_quiet_study_without_a_live_slot_is_stalled(user, dataset, enqueued):
    study = running_study(user, dataset, quiet=conf.STALL_SECONDS + 30)
    assert stalled_seconds(study) == pytest.approx(conf.STALL_SECONDS + 30, abs=5)
    assert study_data(study)["stall"].startswith("Stalled: no worker has run this study for")


def test_a_live_slot_or_a_recent_event_is_not_a_stall(user, dataset, enqueued):
    study = running_study(user, dataset, quiet=conf.STALL_SECONDS + 30)
    lease = SlotLease(study.pk, 0)
    assert lease.acquire()
    try:
        assert stalled_seconds(study) is None  # a long epoch, its worker alive
    finally:
        lease.release()
    recent = running_study(user, dataset, quiet=conf.STALL_SECONDS / 2)
    assert stalled_seconds(recent) is None  # between two slot tasks, say
    assert study_data(recent)["stall"] == ""


def test_the_page_shows_the_stall_and_resume_queues_the_study_again(alice_client, user, dataset, enqueued,
                                                                     django_capture_on_commit_callbacks):  # fmt: skip
    quiet = conf.STALL_SECONDS + 240
    study = running_study(user, dataset, quiet=quiet, ran=quiet + 300)
    page = alice_client.get(f"/studies/{study.pk}/").content.decode()
    assert "Stalled: no worker has run this study for 5 min" in page
    assert 'id="study-stall" role="status" hidden' not in page
    assert 'id="stall-resume-button"' in page
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        answer = alice_client.post(f"/studies/{study.pk}/resume/")
    assert answer.status_code == 302
    study.refresh_from_db()
    assert study.state == "queued"
    assert enqueued == [(str(study.pk), 0)]
    lost = Trial.objects.get(study=study, number=0)
    assert lost.state == "failed" and "worker running this trial stopped" in lost.error
    # The 300 s it worked count against the time budget; the stalled minutes do not.
    assert study.elapsed_seconds == pytest.approx(300, abs=5) and study.run_started_at is None
    assert 'id="study-stall" role="status" hidden' in alice_client.get(f"/studies/{study.pk}/").content.decode()


def test_resume_refuses_a_running_study_that_is_not_stalled(user, dataset, enqueued):
    study = running_study(user, dataset, quiet=1)
    with pytest.raises(services.StudyError, match="only a stopped study"):
        services.resume_study(study=study)
    assert Study.objects.get(pk=study.pk).state == "running"


def test_a_stalled_cancel_finishes_as_cancelled(user, dataset, enqueued):
    study = running_study(user, dataset, quiet=conf.STALL_SECONDS + 30)
    Study.objects.filter(pk=study.pk).update(state="cancelling")
    study.refresh_from_db()
    services.resume_study(study=study)
    study.refresh_from_db()
    assert study.state == "cancelled"
    assert Trial.objects.get(study=study, number=0).state == "cancelled"
