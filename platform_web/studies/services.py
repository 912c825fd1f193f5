"""Study controls: start, cancel, resume, re-run unsuccessful trials, delete. Each checks the starting state.

State machine (Study.state):

    queued ──▶ running ──▶ completed | failed          (the last slot decides)
      │           │
      └───────────┴──▶ cancelling ──▶ cancelled        (cancel_study, then the last slot)
    completed | cancelled | failed ──▶ queued          (resume_study, rerun_trials)
    running (stalled: no live slot) ──▶ queued         (resume_study)
    queued | running ──▶ (same state)                  (rerun_trials: the slots take the re-runs next)
    cancelling: rerun_trials refuses                   (wait until the study has stopped)

Re-runs (rerun_trials) take failed, diverged, cancelled and skipped trials, each at most
once; a diverged one can run with its learning rate lowered. They wait in
Study.pending_reruns until a slot moves them into Optuna's queue (worker/studies/runner.py).

Starting enqueues one Celery task per parallel slot once the transaction
commits; the tasks take the study id and re-read everything.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from platform_web.core import formatting
from platform_web.datasets.models import Dataset
from platform_web.studies import goals, progress, records
from platform_web.studies.closing import ACTIVE_STATES, close_abandoned_trials, finish_if_last
from platform_web.studies.models import Study, Trial
from platform_web.studies.slot_queue import enqueue_slots
from platform_web.studies.slots import live_slots
from platform_web.studies.stalls import stalled_seconds
from platform_web.studies.storage import delete_optuna_study, parallel_trials_allowed
from platform_web.studies.trainer_client import TrainerClient, TrainerError
from platform_web.trainer_files.storage import delete_trial_objects
from trainer_api.engine.hyperparameters import HYPERPARAMETERS

log = logging.getLogger(__name__)

FINISHED = (Study.State.COMPLETED, Study.State.CANCELLED, Study.State.FAILED)
# Trials that ended without a result: these can run again (completed, pruned and running ones cannot).
RERUNNABLE = (Trial.State.FAILED, Trial.State.DIVERGED, Trial.State.CANCELLED, Trial.State.SKIPPED)
# A diverged trial can run again with its learning rate divided by this.
LOWER_LR_DIVISOR = 3
# The learning rate's Optuna names: one range per optimiser family, from scratch or pretrained (space.py).
LEARNING_RATE_KEYS = next(tuple(r.key for r in p.searches) for p in HYPERPARAMETERS if p.name == "learning_rate")


class StudyError(Exception):
    """A control that cannot happen in the study's current state; the message says what to do."""


@transaction.atomic
def start_study(
    *,
    owner,
    dataset: Dataset,
    name: str,
    space: dict,
    n_trials: int | None,
    timeout_seconds: int | None,
    parallel_trials: int = 1,
    sampler: str = "tpe",
    pruner: str = "median",
    seed: int = 0,
    start_token: uuid.UUID | None = None,
) -> Study:
    """Create a study on a ready dataset and queue its slots. The same `start_token` twice returns the first study."""
    if start_token is not None:
        existing = Study.objects.filter(start_token=start_token, owner=owner).first()
        if existing is not None:
            return existing
    if dataset.owner_id != owner.pk:
        raise StudyError("You can only start studies on your own datasets.")
    if dataset.status != Dataset.Status.READY:
        raise StudyError(f"The dataset is {dataset.get_status_display().lower()}: wait until it is ready.")
    if not n_trials and not timeout_seconds:
        raise StudyError("Give the study a budget: a number of trials, a time limit, or both.")
    _check_study_limits(owner, n_trials, timeout_seconds)
    problems = goals.goal_problems(goals.goal_of(space), space.get("max_latency_ms"), sampler)
    if problems:
        raise StudyError(" ".join(problems.values()))
    if goals.is_pareto(space):
        pruner = "none"  # Optuna cannot prune a multi-objective study
    allowed = parallel_trials_allowed()
    if parallel_trials > allowed:
        raise StudyError(
            f"This platform stores studies in SQLite, which runs {allowed} trial at a time. "
            "Use PostgreSQL (DATABASE_URL=postgresql://...) for parallel trials."
        )
    study_id = uuid.uuid4()
    study = Study(
        id=study_id, owner=owner, dataset=dataset, name=name, space=space, n_trials=n_trials or None,
        timeout_seconds=timeout_seconds or None, parallel_trials=parallel_trials, sampler=sampler, pruner=pruner,
        seed=seed, optuna_name=f"study-{study_id}", start_token=start_token,
    )  # fmt: skip
    try:
        study.full_clean()
    except ValidationError as e:
        raise StudyError("; ".join(e.messages)) from e
    try:
        with transaction.atomic():
            study.save(force_insert=True)
    except IntegrityError:
        # The same token committed by a concurrent request (a double click): that study is the answer.
        existing = Study.objects.filter(start_token=start_token, owner=owner).first()
        if existing is None:
            raise
        return existing
    records.record_event(study_id=study.pk, type="study.state", payload={"state": study.state, "previous": None,
                                                                         "error": ""})  # fmt: skip
    enqueue_slots(study)
    return study


def _check_study_limits(owner, n_trials: int | None, timeout_seconds: int | None) -> None:
    """The per-user limits of settings: active studies, trials and hours per study."""
    if n_trials and n_trials > settings.STUDY_MAX_TRIALS:
        raise StudyError(f"A study runs at most {settings.STUDY_MAX_TRIALS} trials here; ask for fewer.")
    if timeout_seconds and timeout_seconds > settings.STUDY_MAX_HOURS * 3600:
        raise StudyError(f"A study runs at most {settings.STUDY_MAX_HOURS:g} hours here; give a shorter time limit.")
    active = Study.objects.filter(owner=owner, state__in=ACTIVE_STATES).count()
    if active >= settings.ACTIVE_STUDIES_PER_USER:
        raise StudyError(
            f"You have {active} studies running or queued; the limit is {settings.ACTIVE_STUDIES_PER_USER}. "
            "Wait for one to end, or cancel one, then start this one."
        )


def cancel_study(*, study: Study) -> Study:
    """Stop a queued or running study: running trials stop within one batch; nothing is half-recorded.

    The running trials are cancelled on the training service right away; each
    slot records its trial as cancelled when the service confirms, and the last
    slot sets "cancelled". A study with no live slot is cancelled here at once.
    """
    with transaction.atomic():
        if not records.set_state(study.pk, Study.State.CANCELLING, only_from=(Study.State.QUEUED, Study.State.RUNNING)):
            study.refresh_from_db()
            if study.state == Study.State.CANCELLING:
                return study
            raise StudyError(
                f"The study is {study.get_state_display().lower()}; only a queued or running study can be cancelled."
            )
    client = TrainerClient(timeout=5)
    for key in Trial.objects.filter(study=study, state=Trial.State.RUNNING).values_list("trainer_key", flat=True):
        try:
            client.cancel(key)
        except TrainerError:
            log.warning("could not cancel trial %s on the training service", key)
    if not live_slots(study.pk, study.parallel_trials):
        finish_if_last(study.pk, "cancelled")
    study.refresh_from_db()
    return study


def _budget_left(study: Study) -> str:
    """Why the study cannot go on, or "" when budget is left."""
    if study.n_trials is not None and progress.counted_trials(study) >= study.n_trials:
        return (
            f"The study already ran its {study.n_trials} trials. "
            "Start a copy with a bigger budget (Clone) to search further."
        )
    remaining = progress.remaining_seconds(study)
    if remaining is not None and remaining <= 0:
        return "The study used up its time limit. Start a copy with more time (Clone) to search further."
    return ""


def resume_study(*, study: Study) -> Study:
    """Continue a cancelled, failed or completed study to its budget, with new trial numbers; or a stalled one."""
    study.refresh_from_db()
    if study.state in (Study.State.RUNNING, Study.State.CANCELLING):
        idle = stalled_seconds(study)
        if idle is not None:
            return _resume_stalled(study, idle)
    return _resume_stopped(study)


def _resume_stalled(study: Study, idle: float) -> Study:
    """Close the trials the gone workers left running (each gets a retry) and queue the slots again.

    Outside a transaction: the Optuna storage writes on its own connection, which an open
    SQLite write transaction here would block.
    """
    if study.state == Study.State.CANCELLING:
        finish_if_last(study.pk, "cancelled")  # nobody is left to finish the cancel
    else:
        close_abandoned_trials(study, "The worker running this trial stopped.", Trial.State.FAILED)
        # The stalled minutes do not count against the time budget.
        records.set_state(study.pk, Study.State.QUEUED, only_from=(Study.State.RUNNING,), idle_seconds=idle)
        enqueue_slots(study)
        log.info("resumed stalled study %s", study.pk)
    study.refresh_from_db()
    return study


@transaction.atomic
def _resume_stopped(study: Study) -> Study:
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.state not in FINISHED:
        raise StudyError(f"The study is {study.get_state_display().lower()}; only a stopped study can be resumed.")
    reason = _budget_left(study)
    if reason:
        raise StudyError(reason)
    _requeue(study)
    return study


def rerunnable_trials(study: Study) -> list[Trial]:
    """The unsuccessful trials that can run again: with parameters, not run again (or retried) yet, not queued."""
    taken = _rerun_numbers(study)
    return [
        t for t in Trial.objects.filter(study=study, state__in=RERUNNABLE).order_by("number")
        if t.number not in taken and t.optuna_params
    ]  # fmt: skip


def _rerun_numbers(study: Study) -> set[int]:
    """Trials already run again, retried or queued to run again."""
    again = Trial.objects.filter(study=study).exclude(retry_of=None).values_list("retry_of", flat=True)
    return set(again) | {entry["number"] for entry in study.pending_reruns}


@transaction.atomic
def rerun_trials(*, study: Study, numbers: list[int] | None = None, lower_lr: bool = False) -> list[dict]:
    """Queue unsuccessful trials to run again with their parameters (the budget grows to fit them).

    `numbers`: these trials, each of which must be re-runnable; None: every re-runnable one.
    `lower_lr`: the diverged ones among them run with their learning rate divided by
    LOWER_LR_DIVISOR. Returns the queued entries ({"number", "params", "note"}). A queued or
    running study takes them after its current trials; a stopped one is queued again.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.state == Study.State.CANCELLING:
        raise StudyError("The study is being cancelled; wait until it has stopped.")
    if numbers is None:
        trials = rerunnable_trials(study)
        if not trials:
            raise StudyError("There is no unsuccessful trial left to re-run (failed, diverged, cancelled or skipped).")
    else:
        trials = [_rerunnable_trial(study, number) for number in dict.fromkeys(numbers)]
    if lower_lr and not any(t.state == Trial.State.DIVERGED for t in trials):
        raise StudyError("Only a diverged trial can be re-run with a lower learning rate.")
    entries = [_rerun_entry(t, lower_lr=lower_lr and t.state == Trial.State.DIVERGED) for t in trials]
    study.pending_reruns = list(study.pending_reruns) + entries
    fields = ["pending_reruns"]
    if study.n_trials is not None:
        study.n_trials = max(study.n_trials, progress.counted_trials(study) + len(entries))
        fields.append("n_trials")
    study.save(update_fields=fields)
    if study.state in FINISHED:
        if _budget_left(study):
            raise StudyError(_budget_left(study))
        _requeue(study)
    return entries


def _rerunnable_trial(study: Study, number: int) -> Trial:
    """Trial `number` of the study, or a StudyError saying why it cannot run again."""
    trial = Trial.objects.filter(study=study, number=number).first()
    if trial is None:
        raise StudyError(f"The study has no trial #{number}.")
    if trial.state not in RERUNNABLE:
        raise StudyError(
            f"Trial #{number} is {trial.get_state_display().lower()}: "
            "only failed, diverged, cancelled or skipped trials can be re-run."
        )
    again = Trial.objects.filter(study=study, retry_of=number).order_by("number").first()
    if again is not None:
        raise StudyError(f"Trial #{number} already ran again as trial #{again.number}.")
    if number in {entry["number"] for entry in study.pending_reruns}:
        raise StudyError(f"Trial #{number} is already queued to run again.")
    if not trial.optuna_params:
        raise StudyError(f"Trial #{number} has no recorded parameters to run again.")
    return trial


def _rerun_entry(trial: Trial, *, lower_lr: bool) -> dict:
    """What the worker enqueues in Optuna: the trial's parameters (learning rate lowered or not) and the note."""
    params = dict(trial.optuna_params)
    if not lower_lr:
        return {"number": trial.number, "params": params, "note": f"re-run of #{trial.number} with the same parameters"}
    key = next((k for k in LEARNING_RATE_KEYS if k in params), None)
    if key is None:
        raise StudyError(
            f"Trial #{trial.number}'s learning rate is fixed by the search space, so it cannot be lowered here: "
            "clone the study with a lower one."
        )
    old = float(params[key])
    params[key] = old / LOWER_LR_DIVISOR
    change = f"from {formatting.number(old)} to {formatting.number(params[key])}"
    return {
        "number": trial.number,
        "params": params,
        "note": f"re-run of #{trial.number} with learning rate lowered {change}",
    }


def _requeue(study: Study) -> None:
    Study.objects.filter(pk=study.pk).update(error="", finished_at=None)
    records.set_state(study.pk, Study.State.QUEUED, only_from=FINISHED)
    enqueue_slots(study)


def delete_study(*, study: Study) -> None:
    """Remove a stopped study: its records, its Optuna trials, its trials' files on the shared volume and in
    object storage."""
    if study.state not in FINISHED:
        raise StudyError("Cancel the study before deleting it.")
    keys = [k for k in Trial.objects.filter(study=study).values_list("trainer_key", flat=True) if k]
    keys += [f"{study.pk}-{n}" for n in Trial.objects.filter(study=study).values_list("number", flat=True)]
    try:
        delete_optuna_study(study)
    except Exception:  # noqa: BLE001 - the records go regardless; stale Optuna rows harm nothing
        log.warning("could not delete Optuna study %s", study.optuna_name, exc_info=True)
    study.delete()
    trials_dir = Path(settings.TRAINER_DATA_DIR) / "trials"
    for key in set(keys):
        folder = trials_dir / key
        if folder.parent == trials_dir and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
    delete_trial_objects(set(keys))
