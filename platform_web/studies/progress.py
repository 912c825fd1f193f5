"""Progress, remaining budget and ETA from what the study measured so far.

The ETA multiplies the measured seconds per epoch by the epochs still expected:
those left in running trials, plus, for each trial the budget still allows, the
planned epochs weighted by the observed pruning rate (a pruned trial stops after
the epochs pruned trials ran on average), divided by the parallel slots, and
capped by the time budget.
"""

from __future__ import annotations

from django.db.models import Avg
from django.utils import timezone

from platform_web.studies.models import EpochMetric, Study, Trial

# Per-trial overhead beyond its epochs (start-up, dataset cache, final latency measurement), in seconds.
TRIAL_OVERHEAD_SECONDS = 3.0


def elapsed_seconds(study: Study) -> float:
    """Seconds the study has run, over all its runs (resumes included)."""
    total = study.elapsed_seconds
    if study.run_started_at is not None:
        total += (timezone.now() - study.run_started_at).total_seconds()
    return total


def remaining_seconds(study: Study) -> float | None:
    """Seconds left in the time budget (None: no time budget)."""
    if not study.timeout_seconds:
        return None
    return max(0.0, study.timeout_seconds - elapsed_seconds(study))


def counted_trials(study: Study) -> int:
    """Trials that used up budget: completed, pruned or diverged (failed ones are retried instead)."""
    return Trial.objects.filter(
        study=study, state__in=[Trial.State.COMPLETED, Trial.State.PRUNED, Trial.State.DIVERGED]
    ).count()


def epoch_seconds(study: Study, config: dict | None = None) -> float | None:
    """Mean measured seconds per epoch: of the same architecture, input size and batch when known."""
    metrics = EpochMetric.objects.filter(trial__study=study).exclude(seconds=None)
    if config:
        same = metrics.filter(
            trial__params__architecture=config.get("architecture"),
            trial__params__input_size=config.get("input_size"),
            trial__params__batch_size=config.get("batch_size"),
        )
        mean = same.aggregate(s=Avg("seconds"))["s"]
        if mean is not None:
            return mean
    return metrics.aggregate(s=Avg("seconds"))["s"]


def estimate_trial_seconds(study: Study, config: dict) -> float | None:
    """How long a trial with `config` should take (None until an epoch was measured)."""
    per_epoch = epoch_seconds(study, config)
    if per_epoch is None:
        return None
    return per_epoch * int(config.get("epochs") or 1) + TRIAL_OVERHEAD_SECONDS


def min_trial_seconds(study: Study) -> float | None:
    """The shortest trial the space allows, at the fastest measured epoch time (None: nothing measured)."""
    fastest = EpochMetric.objects.filter(trial__study=study).exclude(seconds=None).order_by("seconds").first()
    if fastest is None:
        return None
    epochs_min = int(study.space.get("epochs", [1])[0])
    return fastest.seconds * epochs_min + TRIAL_OVERHEAD_SECONDS


def estimate_eta(study: Study) -> float | None:
    """Seconds until the budget is spent, or None while no epoch has been measured."""
    remaining_time = remaining_seconds(study)
    per_epoch = epoch_seconds(study)
    if study.n_trials is None or per_epoch is None:
        return remaining_time
    trials = list(Trial.objects.filter(study=study).values("state", "epochs_planned", "epochs_done"))
    counted = [t for t in trials if t["state"] in (Trial.State.COMPLETED, Trial.State.PRUNED, Trial.State.DIVERGED)]
    stopped = [t for t in counted if t["state"] != Trial.State.COMPLETED]
    running = [t for t in trials if t["state"] == Trial.State.RUNNING]
    planned = [t["epochs_planned"] for t in trials if t["epochs_planned"]]
    low, high = study.space.get("epochs", [1, 1])
    mean_planned = sum(planned) / len(planned) if planned else (low + high) / 2
    prune_rate = len(stopped) / len(counted) if counted else 0.0
    mean_stopped = sum(t["epochs_done"] for t in stopped) / len(stopped) if stopped else 1.0
    per_trial_epochs = (1 - prune_rate) * mean_planned + prune_rate * mean_stopped
    left_trials = max(0, study.n_trials - len(counted) - len(running))
    left_running = sum(max(0, t["epochs_planned"] - t["epochs_done"]) for t in running)
    work = (left_trials * per_trial_epochs + left_running) * per_epoch + left_trials * TRIAL_OVERHEAD_SECONDS
    slots = max(1, min(study.parallel_trials, left_trials + len(running)))
    eta = work / slots
    if remaining_time is not None:
        eta = min(eta, remaining_time)
    return round(eta, 1)


def fraction_done(study: Study) -> float:
    """0..1: the larger of the trial budget used and the time budget used."""
    parts = []
    if study.n_trials:
        parts.append(study.trials_finished / study.n_trials)
    if study.timeout_seconds:
        parts.append(elapsed_seconds(study) / study.timeout_seconds)
    if study.state == Study.State.COMPLETED:
        return 1.0
    return round(min(1.0, max(parts) if parts else 0.0), 4)


def progress_payload(study: Study) -> dict:
    """The `study.progress` event's payload (and the status endpoint's progress part)."""
    return {
        "state": study.state,
        "n_trials": study.n_trials,
        "timeout_seconds": study.timeout_seconds,
        "trials_completed": study.trials_completed,
        "trials_pruned": study.trials_pruned,
        "trials_diverged": study.trials_diverged,
        "trials_failed": study.trials_failed,
        "trials_running": study.trials_running,
        "trials_finished": study.trials_finished,
        "compute_seconds": round(study.compute_seconds, 2),
        "elapsed_seconds": round(elapsed_seconds(study), 1),
        "eta_seconds": study.eta_seconds,
        "fraction": fraction_done(study),
    }
