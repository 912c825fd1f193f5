"""Trials whose worker or training service went away: mark them failed with a reason, queue a retry.

Two ways find such a trial:
- Optuna's heartbeat: a running trial without a heartbeat for `conf.GRACE_SECONDS`
  is failed by the next slot that starts a trial, and the storage calls
  `LostTrialRetry` (Optuna's RetryHeartbeatStaleTrialCallback plus our records).
- Slot leases: when a slot task starts, a running trial of the same slot was
  left by a dead task (its lease expired), so `fail_orphans` fails it at once
  rather than waiting for the heartbeat grace period.

A retry is a new Optuna trial (a new number) with the same parameters, queued
in the WAITING state so the next `ask()` of any slot takes it first. It reuses
the lost trial's key on the training service (see objective.py): a trial still
running there is followed to its end, an interrupted one resumes from its
checkpoint, and only a cancelled or unknown one trains again from scratch.
"""

from __future__ import annotations

import logging
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from platform_web.studies import conf, records
from platform_web.studies.models import Study, Trial
from platform_web.studies.trainer_client import TrainerClient, TrainerError

log = logging.getLogger(__name__)

WORKER_LOST = (
    "The worker running this trial stopped (killed, restarted or cut off from the database) after {epochs} epoch(s)."
)


def enqueue_retry(optuna_study: optuna.Study, frozen: FrozenTrial) -> int | None:
    """Queue the trial's parameters again (at most conf.MAX_RETRIES_PER_TRIAL times); the new trial number."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(max_retry=conf.MAX_RETRIES_PER_TRIAL)(optuna_study, frozen)
    waiting = optuna_study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    retries = [t.number for t in waiting if (t.system_attrs.get("retry_history") or [None])[-1] == frozen.number]
    return max(retries) if retries else None


def close_lost_trial(study: Study, number: int, reason: str, retry_number: int | None) -> None:
    """Record the Django trial as failed with `reason` (its `{epochs}`: the epochs it finished) and what happens next."""
    trial = Trial.objects.filter(study=study, number=number).first()
    if trial is None or trial.state != Trial.State.RUNNING:
        return
    reason = reason.replace("{epochs}", str(trial.epochs_done))
    if retry_number is not None:
        reason = f"{reason} It was retried as trial #{retry_number}."
    else:
        reason = f"{reason} It was not retried: it had been retried {conf.MAX_RETRIES_PER_TRIAL} time(s) already."
        if trial.trainer_key:  # nobody will follow it any more: free the training slot
            try:
                TrainerClient(timeout=5).cancel(trial.trainer_key)
            except TrainerError:
                log.warning("could not cancel abandoned trial %s on the training service", trial.trainer_key)
    records.trial_finished(trial, Trial.State.FAILED, error=reason)


class LostTrialRetry(RetryHeartbeatStaleTrialCallback):
    """The storage's heartbeat-stale callback: Optuna's retry, then the platform's records."""

    def __init__(self, max_retry: int | None = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            super().__init__(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        retry_number = enqueue_retry(study, trial)
        row = Study.objects.filter(optuna_name=study.study_name).first()
        if row is not None:
            close_lost_trial(row, trial.number, WORKER_LOST, retry_number)
            records.record_progress(row.pk)


def fail_orphans(optuna_study: optuna.Study, study: Study, slot: int) -> int:
    """Fail the running trials this slot left behind when its previous task died; returns how many.

    Only called while holding the slot's lease, so no live task owns them. With
    one slot every running trial is this slot's.
    """
    storage = optuna_study._storage
    failed = 0
    for frozen in optuna_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = frozen.user_attrs.get("slot")
        if owner != slot and not (study.parallel_trials == 1 and owner is None):
            continue
        try:
            if not storage.set_trial_state_values(frozen._trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # another process closed it first
        failed += 1
        retry_number = enqueue_retry(optuna_study, storage.get_trial(frozen._trial_id))
        close_lost_trial(study, frozen.number, WORKER_LOST, retry_number)
    # Rows whose Optuna trial was closed by someone else while this process was gone.
    finished_numbers = {t.number for t in optuna_study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING}
    for trial in Trial.objects.filter(study=study, slot=slot, state=Trial.State.RUNNING):
        if trial.number in finished_numbers:
            records.trial_finished(trial, Trial.State.FAILED, error=WORKER_LOST.format(epochs=trial.epochs_done))
    if failed:
        records.record_progress(study.pk)
    return failed
