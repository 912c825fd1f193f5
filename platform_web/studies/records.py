"""Writing a study's records as its trials run, with one event per change.

Every function here writes its rows and its event in one transaction, so a page
never sees a trial half-recorded, and the event reaches the live page only after
the rows it describes are committed. Events (type: payload):

- `study.state`: {state, previous, error}
- `study.progress`: {state, n_trials, timeout_seconds, trials_completed, trials_pruned,
  trials_diverged, trials_failed, trials_running, trials_finished, compute_seconds,
  elapsed_seconds, eta_seconds, fraction}
- `trial.started`: {number, state, params, epochs_planned, slot, retry_of}
- `trial.epoch`: {number, epoch, epochs, train_loss, train_accuracy, val_loss, val_accuracy,
  seconds, images_per_second, learning_rate}
- `trial.completed` / `trial.pruned` / `trial.diverged` / `trial.failed` / `trial.cancelled` /
  `trial.skipped`: {number, state, value, best_epoch, epochs_done, epochs_planned,
  train_seconds, error, params, retry_of}
- `study.best`: {number, value, params}

Floats that are not finite (a diverged loss) are sent and stored as null.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from platform_web.studies import goals
from platform_web.studies.events import record_event
from platform_web.studies.models import EpochMetric, Study, Trial
from platform_web.studies.progress import estimate_eta, progress_payload
from platform_web.studies.serializers import finite, trial_data
from trainer_api.contract import EPOCH_FIGURES

FINAL_TRIAL_STATES = (
    Trial.State.COMPLETED,
    Trial.State.PRUNED,
    Trial.State.DIVERGED,
    Trial.State.FAILED,
    Trial.State.CANCELLED,
    Trial.State.SKIPPED,
)


def set_state(
    study_id, state: str, *, error: str = "", only_from: tuple[str, ...] | None = None, idle_seconds: float = 0.0
) -> bool:
    """Move the study to `state` (only from `only_from` when given) and record `study.state`.

    Leaving a run (to a final state, or back to queued after a stall) adds the run's
    seconds to `elapsed_seconds`, less `idle_seconds` at its end in which nothing ran.

    Returns False, changing nothing, when the study is not in an allowed state
    (another process got there first).
    """
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if only_from is not None and study.state not in only_from:
            return False
        previous = study.state
        now = timezone.now()
        study.state = state
        fields = ["state"]
        if error:
            study.error = error
            fields.append("error")
        if state == Study.State.RUNNING:
            if study.started_at is None:
                study.started_at = now
            study.run_started_at = now
            study.finished_at = None
            fields += ["started_at", "run_started_at", "finished_at"]
        ends_run = state in (Study.State.COMPLETED, Study.State.CANCELLED, Study.State.FAILED)
        if (ends_run or state == Study.State.QUEUED) and study.run_started_at is not None:
            study.elapsed_seconds += max(0.0, (now - study.run_started_at).total_seconds() - idle_seconds)
            study.run_started_at = None
            fields += ["elapsed_seconds", "run_started_at"]
        if ends_run:
            study.finished_at = now
            study.eta_seconds = 0.0 if state == Study.State.COMPLETED else None
            fields += ["finished_at", "eta_seconds"]
        study.save(update_fields=fields)
        record_event(study_id=study_id, type="study.state", payload={"state": state, "previous": previous,
                                                                     "error": study.error})  # fmt: skip
    return True


def refresh_counts(study_id) -> Study:
    """Recount the study's trials and compute seconds from the trial rows (never drifts)."""
    by_state = dict(Trial.objects.filter(study_id=study_id).values_list("state").annotate(n=Count("id")))
    compute = EpochMetric.objects.filter(trial__study_id=study_id).aggregate(s=Sum("seconds"))["s"] or 0.0
    Study.objects.filter(pk=study_id).update(
        trials_completed=by_state.get(Trial.State.COMPLETED, 0),
        trials_pruned=by_state.get(Trial.State.PRUNED, 0),
        trials_diverged=by_state.get(Trial.State.DIVERGED, 0),
        trials_failed=by_state.get(Trial.State.FAILED, 0),
        trials_running=by_state.get(Trial.State.RUNNING, 0),
        compute_seconds=compute,
    )
    return Study.objects.get(pk=study_id)


def record_progress(study_id) -> Study:
    """Recount, recompute the ETA, store both and send `study.progress`."""
    with transaction.atomic():
        study = refresh_counts(study_id)
        study.eta_seconds = estimate_eta(study)
        study.save(update_fields=["eta_seconds"])
        record_event(study_id=study_id, type="study.progress", payload=progress_payload(study))
    return study


def trial_started(
    *,
    study_id,
    number: int,
    optuna_trial_id: int,
    params: dict,
    optuna_params: dict,
    config: dict,
    slot: int,
    key: str,
    retry_of,
    estimated_epoch_seconds: float | None = None,
    note: str = "",
) -> Trial:
    """Create the trial's row (state running) and send `trial.started`; `note` says what a re-run changed."""
    with transaction.atomic():
        trial = Trial.objects.create(
            study_id=study_id, number=number, optuna_trial_id=optuna_trial_id, params=params,
            optuna_params=optuna_params, config=config, estimated_epoch_seconds=estimated_epoch_seconds,
            epochs_planned=int(config.get("epochs") or 0), slot=slot, trainer_key=key, retry_of=retry_of,
            note=note,
        )  # fmt: skip
        record_event(study_id=study_id, type="trial.started", payload={
            "number": number, "state": trial.state, "params": params, "epochs_planned": trial.epochs_planned,
            "slot": slot, "retry_of": retry_of, "note": note,
        })  # fmt: skip
        record_progress(study_id)
    return trial


def epoch_recorded(trial: Trial, report: dict) -> EpochMetric:
    """Store one epoch's metrics (idempotent: a replayed epoch overwrites itself) and send `trial.epoch`."""
    epoch = int(report["epoch"])
    values = {name: finite(report.get(name)) for name in EPOCH_FIGURES}
    with transaction.atomic():
        metric, _ = EpochMetric.objects.update_or_create(trial=trial, epoch=epoch, defaults=values)
        trial.epochs_done = max(trial.epochs_done, epoch)
        Trial.objects.filter(pk=trial.pk).update(epochs_done=trial.epochs_done)
        record_event(study_id=trial.study_id, type="trial.epoch", payload={
            "number": trial.number, "epoch": epoch, "epochs": report.get("epochs") or trial.epochs_planned, **values,
        })  # fmt: skip
        if epoch == 1 or epoch % 5 == 0:  # the ETA moves with measured epoch times
            record_progress(trial.study_id)
    return metric


def trial_finished(trial: Trial, state: str, *, value=None, error: str = "", result: dict | None = None) -> Trial:
    """Close the trial with its final state and result, update best and counts, send the events."""
    result = result or {}
    with transaction.atomic():
        trial.refresh_from_db()
        if trial.state in FINAL_TRIAL_STATES:
            return trial  # already closed (by a recovery path): keep the first story
        best_epoch, best_value = _best_epoch(trial)
        trial.state = state
        trial.value = finite(value) if value is not None else best_value
        trial.best_epoch = result.get("best_epoch") or best_epoch
        trial.error = error or ""
        trial.finished_at = timezone.now()
        seconds = finite(result.get("train_seconds"))
        if seconds is None:
            seconds = sum(s or 0.0 for s in trial.epochs.values_list("seconds", flat=True))
        trial.train_seconds = seconds
        for name in ("latency_ms_batch1", "latency_ms_batch64"):
            setattr(trial, name, finite(result.get(name)))
        for name in ("param_count", "model_size_bytes"):
            if result.get(name) is not None:
                setattr(trial, name, int(result[name]))
        for name in ("model_path", "model_sha256", "safetensors_path", "safetensors_sha256"):
            setattr(trial, name, result.get(name) or "")
        if result.get("epochs_run"):
            trial.epochs_done = max(trial.epochs_done, int(result["epochs_run"]))
        trial.note = _with_memory_retry(trial.note, result.get("out_of_memory_retry"))
        trial.save()
        record_event(study_id=trial.study_id, type=f"trial.{state}", payload=trial_data(trial))
        if state == Trial.State.COMPLETED:
            _update_best(trial)
        record_progress(trial.study_id)
    return trial


def _with_memory_retry(note: str, retry: dict | None) -> str:
    """The trial's note, plus the training service's out-of-memory retry (trainer_api/engine/memory_retry.py)."""
    if not retry:
        return note
    said = (
        f"ran out of GPU memory at batch size {retry.get('failed_batch_size')}: "
        f"trained with batch size {retry.get('batch_size')}"
    )
    max_length = Trial._meta.get_field("note").max_length
    return ("; ".join(part for part in (note, said) if part))[:max_length]


def _best_epoch(trial: Trial) -> tuple[int | None, float | None]:
    best = (
        trial.epochs.exclude(val_accuracy=None)
        .order_by("-val_accuracy", "epoch")
        .values_list("epoch", "val_accuracy")
        .first()
    )
    return best if best else (None, None)


def _update_best(trial: Trial) -> None:
    study = Study.objects.select_for_update(of=("self",)).select_related("best_trial").get(pk=trial.study_id)
    current = study.best_trial
    # A trial over the study's latency budget (or without a measured latency) is never its best (goals.py).
    if not goals.may_be_best(trial.value, trial.latency_ms_batch1, study.space):
        return
    if not goals.beats(trial, current, study.space):
        return
    study.best_trial = trial
    study.save(update_fields=["best_trial"])
    record_event(study_id=study.pk, type="study.best", payload={"number": trial.number, "value": trial.value,
                                                                "params": trial.params})  # fmt: skip
