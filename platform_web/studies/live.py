"""What the live study page needs, read from the database: the snapshot and parameter importance.

The snapshot is the base a browser applies live events to. Its `seq` is read
before anything else, so every row in it is at least as new as `seq`; events
after `seq` may already be reflected in the rows, which is harmless because the
page applies every event idempotently (an epoch replaces the same epoch, counts
are absolute).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from platform_web.studies.models import EpochMetric, Study, Trial
from platform_web.studies.progress import progress_payload
from platform_web.studies.serializers import finite, study_data, trial_data

log = logging.getLogger(__name__)

# Optuna's evaluator needs a handful of finished trials before its answer means anything.
MIN_TRIALS_FOR_IMPORTANCE = 5
# Importance is recomputed at most this often per study and process, and only when trials finished since.
IMPORTANCE_MAX_AGE_SECONDS = 20.0


def owned_study(user, study_id) -> Study | None:
    """The study if `user` owns it, else None (anonymous users own nothing)."""
    if user is None or not user.is_authenticated:
        return None
    return Study.objects.filter(pk=study_id, owner=user).first()


def trial_row(trial: Trial, epochs: list[list]) -> dict:
    """One trial as the page shows it: `serializers.trial_data` and its curves ([epoch, val_accuracy, val_loss])."""
    return {**trial_data(trial), "epochs_done": max(trial.epochs_done, len(epochs)), "epochs": epochs}


def best_so_far(trials: list[dict]) -> list[list]:
    """[[trial number, best completed value up to that trial], ...] in trial order."""
    series: list[list] = []
    best = None
    for row in sorted(trials, key=lambda t: t["number"]):
        if row["state"] == Trial.State.COMPLETED and row["value"] is not None:
            best = row["value"] if best is None else max(best, row["value"])
        if best is not None:
            series.append([row["number"], best])
    return series


def study_snapshot(study_id) -> dict:
    """Everything the live page draws, as of the returned `seq` (or newer)."""
    with transaction.atomic():
        seq = Study.objects.values_list("last_event_seq", flat=True).get(pk=study_id)
        study = Study.objects.select_related("best_trial", "dataset").get(pk=study_id)
        trials = list(Trial.objects.filter(study_id=study_id).order_by("number"))
        curves: dict[int, list[list]] = defaultdict(list)
        metrics = (
            EpochMetric.objects.filter(trial__study_id=study_id)
            .order_by("trial_id", "epoch")
            .values_list("trial_id", "epoch", "val_accuracy", "val_loss")
        )
        for trial_id, epoch, val_accuracy, val_loss in metrics:
            curves[trial_id].append([epoch, finite(val_accuracy), finite(val_loss)])
    rows = [trial_row(t, curves.get(t.pk, [])) for t in trials]
    importance = param_importance(study_id, trials)
    return {
        "type": "snapshot",
        "seq": seq,
        "server_time": timezone.now().isoformat(),
        "study": study_data(study),
        "progress": progress_payload(study),  # also in "study"; here as the `study.progress` event sends it
        "trials": rows,
        "best_so_far": best_so_far(rows),
        "importance": importance["importance"],
        "importance_based_on": importance["based_on"],
        "importance_needs": MIN_TRIALS_FOR_IMPORTANCE,
    }


def param_importance(study_id, trials: list[Trial] | None = None) -> dict:
    """Optuna's parameter importance over the completed trials, cached per study.

    Returns {"importance": {param: share} or None, "based_on": completed trial count}.
    Recomputed only when more trials completed and the cached answer is older than
    IMPORTANCE_MAX_AGE_SECONDS, so a page with 1,000 trials stays cheap to load.
    """
    if trials is None:
        trials = list(Trial.objects.filter(study_id=study_id, state=Trial.State.COMPLETED))
    completed = [t for t in trials if t.state == Trial.State.COMPLETED and t.value is not None and t.params]
    if len(completed) < MIN_TRIALS_FOR_IMPORTANCE:
        return {"importance": None, "based_on": len(completed)}
    key = f"live:importance:{study_id}"
    cached = cache.get(key)
    if cached and (
        cached["based_on"] == len(completed) or time.monotonic() - cached["at"] < IMPORTANCE_MAX_AGE_SECONDS
    ):
        return {"importance": cached["importance"], "based_on": cached["based_on"]}
    try:
        importance = compute_importance([(t.params, t.value) for t in completed])
    except Exception:  # noqa: BLE001 - a page must load even when the evaluator cannot answer
        log.warning("parameter importance failed for study %s", study_id, exc_info=True)
        importance = None
    cache.set(key, {"importance": importance, "based_on": len(completed), "at": time.monotonic()}, 3600)
    return {"importance": importance, "based_on": len(completed)}


def compute_importance(results: list[tuple[dict, float]]) -> dict[str, float] | None:
    """Run Optuna's default importance evaluator on (params, value) pairs.

    The trials are copied into an in-memory Optuna study with distributions
    inferred from the values seen (numbers become ranges, log-scaled when they
    span two or more decades; anything else becomes categorical), so this works
    whatever storage the study ran on.
    """
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    shared = sorted(set.intersection(*(set(p) for p, _ in results)))
    # A parameter that never changed (fixed by the space) explains nothing: leave it out.
    names = [n for n in shared if len({_hashable(p[n]) for p, _ in results}) > 1]
    distributions = {}
    for name in names:
        values = [p[name] for p, _ in results]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric:
            low, high = min(values), max(values)
            log_scale = low > 0 and high / low >= 100
            if all(isinstance(v, int) for v in values):
                distributions[name] = IntDistribution(int(low), int(high), log=log_scale)
            else:
                distributions[name] = FloatDistribution(float(low), float(high), log=log_scale)
        else:
            choices = tuple(sorted({_hashable(v) for v in values}, key=str))
            distributions[name] = CategoricalDistribution(choices)
    if not distributions:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for params, value in results:
        chosen = {n: _hashable(params[n]) if isinstance(distributions[n], CategoricalDistribution) else params[n]
                  for n in names}  # fmt: skip
        study.add_trial(optuna.trial.create_trial(params=chosen, distributions=distributions, value=value))
    importance = optuna.importance.get_param_importances(study)
    return {name: round(float(share), 4) for name, share in importance.items()}


def _hashable(value):
    """Categorical choices must be None, bool, int, float or str."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
