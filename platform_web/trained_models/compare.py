"""The compare page: several trials (or studies' best trials) side by side."""

from __future__ import annotations

import uuid

from django.urls import reverse

from platform_web.core import formatting
from platform_web.studies.models import Study, Trial
from platform_web.trained_models import selectors
from platform_web.trained_models.files import architecture_of

# Colours the curves take, in order (readable on white, distinct for colour-blind eyes).
PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#1098ad", "#f08c00", "#5c940d"]
MAX_COMPARED = 8


def parse_trial_refs(values: list[str]) -> list[tuple[str, int]]:
    """`<study uuid>:<trial number>` strings to pairs; malformed ones are dropped."""
    refs = []
    for value in values:
        study_id, _, number = value.partition(":")
        try:
            refs.append((str(uuid.UUID(study_id)), int(number)))
        except ValueError:
            continue
    return refs


def parse_study_ids(values: list[str]) -> list[str]:
    """Study uuid strings; malformed ones are dropped."""
    ids = []
    for value in values:
        try:
            ids.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return ids


def trial_label(trial: Trial) -> str:
    """How a trial is named on the compare page."""
    return f"{trial.study.name} · #{trial.number} {architecture_of(trial)}"


def _metric_rows(trials: list[Trial]) -> list[dict]:
    """The metrics, each written as every other page writes it (platform_web/core/formatting.py)."""
    rows = [
        ("Validation accuracy", [formatting.percent(t.value) for t in trials], [t.value for t in trials], "max"),
        ("Best epoch", [formatting.count(t.best_epoch) for t in trials], None, None),
        ("Epochs run", [f"{t.epochs_done} / {t.epochs_planned}" for t in trials], None, None),
        ("Training time", [formatting.duration(t.train_seconds) for t in trials], [t.train_seconds for t in trials],
         "min"),
        ("Latency, 1 image", [formatting.milliseconds(t.latency_ms_batch1) for t in trials],
         [t.latency_ms_batch1 for t in trials], "min"),
        ("Latency per image, batch 64", [formatting.milliseconds(t.latency_ms_batch64) for t in trials],
         [t.latency_ms_batch64 for t in trials], "min"),
        ("Parameters", [formatting.count(t.param_count) for t in trials], [t.param_count for t in trials], "min"),
        ("File size", [formatting.size(t.model_size_bytes) for t in trials], [t.model_size_bytes for t in trials],
         "min"),
    ]  # fmt: skip
    shaped = []
    for label, cells, raw, goal in rows:
        best: set[int] = set()
        present = [v for v in raw or [] if v is not None]
        if goal and len(present) > 1 and len(set(present)) > 1:
            target = max(present) if goal == "max" else min(present)
            best = {i for i, v in enumerate(raw) if v == target}  # ties are all best
        shaped.append({"label": label, "cells": [{"text": c, "best": i in best} for i, c in enumerate(cells)]})
    return shaped


def _param_rows(trials: list[Trial]) -> list[dict]:
    keys = sorted({k for t in trials for k in t.params})
    rows = []
    for key in keys:
        values = [t.params.get(key) for t in trials]
        shown = [formatting.value(v) for v in values]
        rows.append({"label": formatting.label(key), "cells": shown, "differs": len(set(shown)) > 1})
    return rows


def compare_message(*, submitted: bool, asked: int, trials: list[Trial]) -> dict | None:
    """What the page says when fewer than two models are compared: `{"level", "text"}`, or None.

    `submitted`: the picker's Compare button sent the request (or references came with it);
    `asked`: how many references the request held, well formed or not.
    """
    if len(trials) >= 2 or not (submitted or asked):
        return None
    if len(trials) == 1:
        return {
            "level": "info",
            "text": f"Only {trial_label(trials[0])} is chosen. Pick at least one more trial or study to compare with.",
        }
    if asked:
        return {
            "level": "error",
            "text": "None of the chosen models can be compared: they are not yours, were deleted or have no "
            "completed trial yet. Tick one or more models below, then press Compare.",
        }
    return {"level": "error", "text": "Nothing was ticked. Tick one or more models to compare, then press Compare."}


def compare_context(user, *, trial_refs: list[str], study_ids: list[str], submitted: bool = False) -> dict:
    """Everything the compare page shows: the picker, the metrics table, the chart data and its message."""
    refs = parse_trial_refs(trial_refs)[:MAX_COMPARED]
    studies = parse_study_ids(study_ids)[:MAX_COMPARED]
    trials = selectors.trials_for_compare(user, refs, studies)[:MAX_COMPARED]
    selected_trials = {f"{t.study_id}:{t.number}" for t in trials}
    chosen_studies = list(Study.objects.filter(owner=user, pk__in=studies))
    curves = [
        {
            "label": trial_label(t),
            "color": PALETTE[i % len(PALETTE)],
            "url": reverse("trained_models:model", args=[t.study_id, t.number]),
            "epochs": selectors.epoch_series(t),
        }
        for i, t in enumerate(trials)
    ]
    study_curves = [
        {"label": s.name, "color": PALETTE[i % len(PALETTE)], "points": selectors.best_so_far_series(s)}
        for i, s in enumerate(chosen_studies)
    ]
    datasets = {t.study.dataset_id for t in trials}
    selected_studies = {str(s.pk) for s in chosen_studies}
    choices = [
        {
            "study": choice.study,
            "selected": str(choice.study.pk) in selected_studies,
            "trials": [
                {
                    "trial": t,
                    "ref": f"{t.study_id}:{t.number}",
                    "selected": f"{t.study_id}:{t.number}" in selected_trials,
                    "architecture": architecture_of(t),
                }
                for t in choice.trials
            ],
        }
        for choice in selectors.compare_choices(user)
    ]
    return {
        "choices": choices,
        "trials": trials,
        "columns": [
            {"trial": t, "label": trial_label(t), "color": c["color"]} for t, c in zip(trials, curves, strict=True)
        ],
        "metric_rows": _metric_rows(trials),
        "param_rows": _param_rows(trials),
        "chart_data": {"trials": curves, "studies": study_curves},
        "mixed_datasets": len(datasets) > 1,
        "max_compared": MAX_COMPARED,
        "compare_message": compare_message(submitted=submitted, asked=len(trial_refs) + len(study_ids), trials=trials),
    }
