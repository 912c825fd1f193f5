"""Read-side of trained models: owner-checked lookups and what the pages show."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch
from django.http import Http404

from platform_web.core import formatting
from platform_web.studies import goals
from platform_web.studies.models import EpochMetric, Study, Trial

# Trials whose `.pth` is worth offering: they finished and kept their best epoch's weights.
USABLE_STATES = (Trial.State.COMPLETED,)


def get_owned_study(user, study_id) -> Study:
    """The user's study, or 404 (another user's study does not exist for them)."""
    try:
        return Study.objects.select_related("dataset", "best_trial").get(pk=study_id, owner=user)
    except Study.DoesNotExist as e:
        raise Http404("No such study.") from e


def get_owned_trial(user, study_id, number: int) -> Trial:
    """The user's trial by study and trial number, or 404."""
    try:
        return Trial.objects.select_related("study", "study__dataset").get(
            study_id=study_id, study__owner=user, number=number
        )
    except Trial.DoesNotExist as e:
        raise Http404("No such trial.") from e


def best_trial_of(study: Study) -> Trial:
    """The study's best trial that has a model file, or 404 with a reason.

    Under a latency budget only a trial within it (goals.py): a faster model is never swapped for
    a more accurate one that breaks the budget.
    """
    trial = study.best_trial
    if trial is None or not trial.model_path:
        candidates = study.trials.filter(state__in=USABLE_STATES, value__isnull=False).exclude(model_path="")
        budget = goals.latency_budget(study.space)
        if budget is not None:
            candidates = candidates.filter(latency_ms_batch1__lte=budget)
        trial = candidates.order_by("-value", "number").first()
    if trial is None:
        budget = goals.latency_budget(study.space)
        within = f" within its latency budget of {formatting.milliseconds(budget)} per image" if budget else ""
        raise Http404(f"This study has no completed trial with a model{within} yet.")
    return trial


def epoch_series(trial: Trial) -> list[dict]:
    """Per-epoch metrics of one trial, oldest first, as plain dicts for charts."""
    return [
        {
            "epoch": m.epoch,
            "val_accuracy": m.val_accuracy,
            "val_loss": m.val_loss,
            "train_accuracy": m.train_accuracy,
            "train_loss": m.train_loss,
        }
        for m in trial.epochs.all()
    ]


@dataclass(frozen=True)
class CompareChoice:
    """One study offered on the compare page with its trials that have a model."""

    study: Study
    trials: list[Trial]


def compare_choices(user) -> list[CompareChoice]:
    """The user's studies with their finished trials, newest study first (the compare page's picker)."""
    trials = Trial.objects.filter(state__in=USABLE_STATES).exclude(model_path="").order_by("-value", "number")
    studies = (
        Study.objects.filter(owner=user).select_related("dataset").prefetch_related(Prefetch("trials", queryset=trials))
    )
    return [CompareChoice(study=s, trials=list(s.trials.all())) for s in studies]


def trials_for_compare(user, trial_refs: list[tuple[str, int]], study_ids: list[str]) -> list[Trial]:
    """Resolve `(study id, number)` pairs and whole studies (their best trial) to the user's trials.

    Unknown or foreign references are skipped silently: the page shows what the
    user may see. Order follows the request; duplicates are dropped.
    """
    chosen: list[Trial] = []
    seen: set[int] = set()
    for study_id, number in trial_refs:
        trial = (
            Trial.objects.select_related("study", "study__dataset")
            .prefetch_related(Prefetch("epochs", queryset=EpochMetric.objects.order_by("epoch")))
            .filter(study_id=study_id, study__owner=user, number=number)
            .first()
        )
        if trial is not None and trial.pk not in seen:
            seen.add(trial.pk)
            chosen.append(trial)
    for study_id in study_ids:
        study = Study.objects.filter(pk=study_id, owner=user).select_related("best_trial").first()
        if study is None:
            continue
        try:
            best = best_trial_of(study)
        except Http404:
            continue
        if best.pk not in seen:
            seen.add(best.pk)
            chosen.append(
                Trial.objects.select_related("study", "study__dataset")
                .prefetch_related(Prefetch("epochs", queryset=EpochMetric.objects.order_by("epoch")))
                .get(pk=best.pk)
            )
    return chosen


def best_so_far_series(study: Study) -> list[dict]:
    """Best validation accuracy after each finished trial of a study, by trial number."""
    best = None
    points = []
    for number, value in study.trials.filter(value__isnull=False).order_by("number").values_list("number", "value"):
        best = value if best is None else max(best, value)
        points.append({"trial": number, "value": value, "best": best})
    return points
