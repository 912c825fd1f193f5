"""One study, one trial and one epoch as JSON: the live events, the live page's snapshot and the JSON API send these.

Numbers go through `finite` (JSON has no NaN or Infinity: a diverged trial's loss is
null); times are ISO 8601.
"""

from __future__ import annotations

import math

from django.urls import NoReverseMatch, reverse

from platform_web.studies import goals
from platform_web.studies.models import EpochMetric, Study, Trial
from platform_web.studies.progress import progress_payload
from platform_web.studies.stalls import stall_message, stalled_seconds


def finite(value):
    """The number, or None when it is missing, NaN or infinite (JSON has no NaN)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def stall_text(study: Study) -> str:
    """The stalled-study message, or "" when its workers are alive (see stalls.py)."""
    idle = stalled_seconds(study)
    return "" if idle is None else stall_message(idle)


def iso(value) -> str | None:
    """A datetime as ISO 8601, or None."""
    return value.isoformat() if value else None


def study_data(study: Study) -> dict:
    """One study: settings, space, state, progress (as the `study.progress` event sends it) and best trial."""
    best = study.best_trial
    return {
        "id": str(study.pk),
        "name": study.name,
        "dataset": {"id": str(study.dataset_id), "name": study.dataset.name},
        "state": study.state,
        "state_label": study.get_state_display(),
        "error": study.error,
        "stall": stall_text(study),
        "n_trials": study.n_trials,
        "timeout_seconds": study.timeout_seconds,
        "parallel_trials": study.parallel_trials,
        "sampler": study.sampler,
        "pruner": study.pruner,
        "seed": study.seed,
        "space": {k: v for k, v in study.space.items() if k != "arch_min_input"},
        # {goal, max_latency_ms, directions, text}: best accuracy, under a latency budget, or the Pareto front.
        "goal": goals.goal_data(study.space),
        "progress": progress_payload(study),
        # Trials queued to run again (the page offers no second re-run of them): their numbers.
        "pending_reruns": [entry["number"] for entry in study.pending_reruns],
        "best_trial": None
        if best is None
        else {"number": best.number, "value": finite(best.value), "params": best.params, "model_path": best.model_path},
        "created_at": iso(study.created_at),
        "started_at": iso(study.started_at),
        "finished_at": iso(study.finished_at),
    }


def trial_links(trial: Trial) -> dict:
    """The trial's model page and `.pth` download (empty for a trial without a kept model)."""
    if not trial.model_path or trial.state != Trial.State.COMPLETED:
        return {"download_url": "", "model_url": ""}
    key = {"study_id": trial.study_id, "number": trial.number}
    try:
        return {
            "download_url": reverse("trained_models:download", kwargs={**key, "kind": "pth"}),
            "model_url": reverse("trained_models:model", kwargs=key),
        }
    except NoReverseMatch:
        return {"download_url": f"/studies/{trial.study_id}/trials/{trial.number}/download.pth", "model_url": ""}


def trial_data(trial: Trial) -> dict:
    """One trial: parameters, state, value, schedule, timings, size and links (its epochs apart)."""
    end = trial.finished_at
    duration = (end - trial.started_at).total_seconds() if end and trial.started_at else None
    return {
        "number": trial.number,
        "state": trial.state,
        "params": trial.params,
        "value": finite(trial.value),
        "best_epoch": trial.best_epoch,
        "epochs_planned": trial.epochs_planned,
        "epochs_done": trial.epochs_done,
        "train_seconds": finite(trial.train_seconds),
        "duration_seconds": duration,
        "started_at": iso(trial.started_at),
        "finished_at": iso(trial.finished_at),
        "latency_ms_batch1": finite(trial.latency_ms_batch1),
        "param_count": trial.param_count,
        "model_path": trial.model_path,
        "error": trial.error,
        "retry_of": trial.retry_of,
        "note": trial.note,
        **trial_links(trial),
    }


def epoch_data(metric: EpochMetric) -> dict:
    """One epoch of a trial, every recorded figure."""
    return {
        "epoch": metric.epoch,
        "train_loss": finite(metric.train_loss),
        "train_accuracy": finite(metric.train_accuracy),
        "val_loss": finite(metric.val_loss),
        "val_accuracy": finite(metric.val_accuracy),
        "seconds": finite(metric.seconds),
    }
