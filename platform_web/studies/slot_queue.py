"""Queueing a study's slot tasks, by task name: the web process never imports the worker's task modules."""

from __future__ import annotations

from django.db import transaction

from platform_web.celery import app
from platform_web.studies.models import Study

# The task in worker/study_tasks.py that runs one slot; `task_routes` sends it to the training queue.
RUN_SLOT_TASK = "studies.run_slot"


def send_slot(study_id: str, slot: int) -> None:
    """Queue slot `slot` of study `study_id` now."""
    app.send_task(RUN_SLOT_TASK, args=[study_id, slot])


def enqueue_slots(study: Study) -> None:
    """Queue one slot task per parallel trial, after the transaction commits."""
    study_id, slots = str(study.pk), study.parallel_trials

    def send() -> None:
        for slot in range(slots):
            send_slot(study_id, slot)

    transaction.on_commit(send)
