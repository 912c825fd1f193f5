"""Celery tasks for studies (thin: the work is in worker.studies.runner).

`run_study_slot` runs one parallel slot of a study for as long as the study
runs (hours), so it is acknowledged late (a killed worker's task comes back),
prefetched one at a time, and idempotent: it re-reads the study, does nothing
for a finished one, and waits for the slot's lease when a live copy holds it.
Redis redelivers an unacknowledged task only after the broker's visibility
timeout (CELERY_VISIBILITY_TIMEOUT, 7 days by default, which must exceed the
longest study); a worker that starts re-enqueues the slots of every active
study at once (`recover_studies`), so a crashed study goes on without waiting
for that.
"""

from __future__ import annotations

import logging

from celery.signals import worker_ready

from platform_web.celery import app
from platform_web.studies import conf, records
from platform_web.studies.closing import ACTIVE_STATES
from platform_web.studies.models import Study
from platform_web.studies.slot_queue import RUN_SLOT_TASK, send_slot
from worker.studies import runner
from worker.studies.outages import is_outage

log = logging.getLogger(__name__)

# A copy of a slot task retries this often (one lease lifetime apart) before it concludes the holder is alive.
BUSY_ATTEMPTS = 4
# Retries after the training service, the database or Redis stayed unreachable; backoff doubles up to 10 minutes.
OUTAGE_RETRIES = 12


@app.task(
    bind=True,
    name=RUN_SLOT_TASK,
    acks_late=True,
    max_retries=None,
    soft_time_limit=conf.TASK_TIME_LIMIT_SECONDS,
    time_limit=conf.TASK_TIME_LIMIT_SECONDS + 120,
)
def run_study_slot(self, study_id: str, slot: int, busy_attempts: int = 0, outages: int = 0) -> str:
    """Run slot `slot` of study `study_id` until its budget is spent or it is cancelled."""
    try:
        return runner.run_slot(study_id, slot)
    except runner.SlotBusy as e:
        if busy_attempts + 1 >= BUSY_ATTEMPTS:
            return f"slot {slot} is held by a live task"
        raise self.retry(
            exc=e, countdown=conf.SLOT_LEASE_SECONDS + 1,
            kwargs={"study_id": study_id, "slot": slot, "busy_attempts": busy_attempts + 1, "outages": outages},
        ) from e  # fmt: skip
    except Exception as e:
        if not is_outage(e):
            log.exception("slot %s of study %s failed", slot, study_id)
            records.set_state(
                study_id, Study.State.FAILED, error=f"The study stopped on an internal error: {e!r}",
                only_from=ACTIVE_STATES,
            )  # fmt: skip
            raise
        if outages >= OUTAGE_RETRIES:
            records.set_state(
                study_id, Study.State.FAILED, error=f"Stopped: a service stayed unreachable ({e}). Resume it later.",
                only_from=ACTIVE_STATES,
            )  # fmt: skip
            return "gave up"
        countdown = min(600, 10 * 2**outages)
        log.warning(
            "slot %s of study %s: a service is unreachable (%r); retrying in %s s", slot, study_id, e, countdown
        )
        raise self.retry(
            exc=e, countdown=countdown,
            kwargs={"study_id": study_id, "slot": slot, "busy_attempts": 0, "outages": outages + 1},
        ) from e  # fmt: skip


@app.task(name="studies.recover", acks_late=True)
def recover_studies() -> int:
    """Re-enqueue every slot of every active study; slots whose task is alive ignore the copy."""
    count = 0
    for study_id, parallel in Study.objects.filter(state__in=ACTIVE_STATES).values_list("pk", "parallel_trials"):
        for slot in range(parallel):
            send_slot(str(study_id), slot)
            count += 1
    return count


@worker_ready.connect
def _recover_on_start(sender=None, **kwargs) -> None:
    """A worker that starts (after a crash too) picks up the studies whose slots died."""
    consumed = getattr(getattr(sender, "app", None), "amqp", None)
    queues = set(getattr(getattr(consumed, "queues", None), "consume_from", None) or ())
    if queues and "training" not in queues:
        return  # the ingest-only worker runs no study slots
    try:
        recover_studies.apply_async()
    except Exception:  # noqa: BLE001 - a broker hiccup at start must not stop the worker
        log.warning("could not enqueue study recovery", exc_info=True)
