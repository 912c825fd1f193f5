"""How a study ends: the last slot to stop (or a cancel with no slot alive) sets its final state.

Used by the worker's slots (`worker/studies/runner.py`) and by a cancel in the web
(`services.cancel_study`) when no slot is alive to finish the study itself.
"""

from __future__ import annotations

import contextlib
import logging

from optuna.trial import TrialState

from platform_web.studies import conf, goals, records
from platform_web.studies.models import Study, Trial
from platform_web.studies.recovery import enqueue_retry
from platform_web.studies.slot_queue import enqueue_slots
from platform_web.studies.slots import live_slots
from platform_web.studies.storage import load_optuna_study
from platform_web.studies.trainer_client import TrainerClient, TrainerError

log = logging.getLogger(__name__)

# A study in these states has slots that run (or will run) its trials.
ACTIVE_STATES = (Study.State.QUEUED, Study.State.RUNNING, Study.State.CANCELLING)


def finish_if_last(study_id, reason: str, failure: str = "") -> None:
    """If no other slot of the study is alive, set its final state (or start slots again if budget is left)."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None or study.state not in ACTIVE_STATES:
        return
    if live_slots(study_id, study.parallel_trials):
        return  # another slot is still running trials; the last one to stop decides
    if study.state == Study.State.CANCELLING or reason == "cancelled":
        close_abandoned_trials(study, "Cancelled with the study.", Trial.State.CANCELLED)
        records.set_state(study_id, Study.State.CANCELLED, only_from=ACTIVE_STATES)
        records.record_progress(study_id)
        return
    if reason == "failing":
        message = f"Stopped after {conf.MAX_CONSECUTIVE_FAILURES} failed trials in a row. The last one: {failure}"
        records.set_state(study_id, Study.State.FAILED, error=message, only_from=ACTIVE_STATES)
        records.record_progress(study_id)
        return
    if close_abandoned_trials(study, "The worker running this trial stopped.", Trial.State.FAILED):
        enqueue_slots(study)  # their retries are waiting: run them
        return
    unmet = goals.unmet_budget(study, Trial.objects.filter(study=study, state=Trial.State.COMPLETED))
    if unmet:  # trials completed, but none within the latency budget: no model to offer, and the page says why
        records.set_state(study_id, Study.State.FAILED, error=unmet, only_from=ACTIVE_STATES)
    elif Trial.objects.filter(study=study, state=Trial.State.COMPLETED).exists():
        records.set_state(study_id, Study.State.COMPLETED, only_from=ACTIVE_STATES)
    else:
        last = Trial.objects.filter(study=study).exclude(error="").order_by("-number").first()
        detail = f" The last error: {last.error}" if last else ""
        records.set_state(study_id, Study.State.FAILED, error=f"No trial completed.{detail}", only_from=ACTIVE_STATES)
    records.record_progress(study_id)


def close_abandoned_trials(study: Study, reason: str, state: str) -> int:
    """Close trials still marked running although no slot is alive; their Optuna trials too. Returns how many."""
    rows = list(Trial.objects.filter(study=study, state=Trial.State.RUNNING))
    if not rows:
        return 0
    try:
        optuna_study = load_optuna_study(study)
        storage = optuna_study._storage
        running = {t.number: t for t in optuna_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    except (KeyError, Exception):  # noqa: BLE001 - records first; Optuna's heartbeat fails them later anyway
        log.warning("could not load Optuna study %s to close trials", study.optuna_name, exc_info=True)
        optuna_study, running = None, {}
    for row in rows:
        frozen = running.get(row.number)
        retry = None
        if frozen is not None and state == Trial.State.FAILED:
            with contextlib.suppress(Exception):
                if storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL):
                    retry = enqueue_retry(optuna_study, storage.get_trial(frozen._trial_id))
        elif frozen is not None:
            with contextlib.suppress(Exception):
                storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL)
        message = reason + (f" It was retried as trial #{retry}." if retry is not None else "")
        records.trial_finished(row, state, error=message)
        if row.trainer_key and state == Trial.State.CANCELLED:
            with contextlib.suppress(TrainerError):
                TrainerClient(timeout=5).cancel(row.trainer_key)
    return len(rows)
