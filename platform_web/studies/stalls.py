"""A study whose workers are all gone: still marked running, but no slot task holds a lease and nothing happened.

The page shows it as stalled with a Resume button (`services.resume_study`),
which closes the trials the dead workers left running (each gets a retry that
follows or resumes its training on the service) and queues the study's slots
again. A worker that starts picks such studies up by itself
(`worker/study_tasks.recover_studies`); this covers the case where none does.
"""

from __future__ import annotations

import logging

import redis
from django.utils import timezone

from platform_web.studies import conf
from platform_web.studies.models import Study, StudyEvent
from platform_web.studies.slots import live_slots

log = logging.getLogger(__name__)

# States in which a study's slots should be alive.
WORKING_STATES = (Study.State.RUNNING, Study.State.CANCELLING)


def quiet_seconds(study: Study) -> float:
    """Seconds since the study last did anything: its last event (starting a run is one too)."""
    last_event = StudyEvent.objects.filter(study=study).order_by("-seq").values_list("created_at", flat=True).first()
    since = last_event or study.run_started_at or study.created_at
    return (timezone.now() - since).total_seconds()


def stalled_seconds(study: Study) -> float | None:
    """How long a stalled study has been quiet; None when it is not stalled (or Redis cannot tell)."""
    if study.state not in WORKING_STATES:
        return None
    quiet = quiet_seconds(study)
    if quiet < conf.STALL_SECONDS:
        return None
    try:
        if live_slots(study.pk, study.parallel_trials):
            return None
    except redis.RedisError:
        log.warning("cannot read the slot leases of study %s", study.pk, exc_info=True)
        return None
    return quiet


def stall_message(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return (
        f"Stalled: no worker has run this study for {minutes} min (the workers stopped or lost their tasks). "
        "Resume queues it again; a worker that starts takes it up."
    )
