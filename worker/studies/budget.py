"""Spending a time budget: each trial's slice of it, and the epochs that fill the slice.

With a time budget the epochs of a trial are not searched: they are the resource. A
portfolio trial gets its `share` of the whole budget, a sampled trial
`SEARCH_SHARE` of it (or what is left, if less), and the last trial that fits takes
everything that remains, so a study does not end idle with time on the clock. Its epochs
are as many as fit in the slice at the configuration's epoch time, within the space's
epoch range; a trial whose shortest run (the range's low end) does not fit is not
started.

The epoch time of a configuration comes from its own measured epochs in this study
when there are some, else from the training service's speed probe (random data, one to
three seconds) times how much slower real epochs ran than their probe in this study so far.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from platform_web.studies import progress
from platform_web.studies.models import Study, Trial

# A sampled trial's slice of the time budget.
SEARCH_SHARE = 0.15
# What a trial costs besides its epochs: start-up, the last checkpoint, model files, latency.
TRIAL_OVERHEAD_SECONDS = 4.0
# Decoding the dataset into the trainer's cache, the first time an input size is used.
DECODE_SECONDS_PER_IMAGE = 0.002
# Real epochs against the probe before anything was measured (augmentation, batch gathering, checkpoints).
DEFAULT_PROBE_FACTOR = 1.1


@dataclass(frozen=True)
class EpochEstimate:
    """Seconds one epoch of a configuration takes, and where the figure comes from."""

    seconds: float
    source: str  # "measured" or "probe"
    probe_seconds: float | None = None


def _same_model(config: dict) -> dict:
    """Trial filters for the same network, input size and batch (what an epoch's time depends on)."""
    return {
        f"config__{name}": config.get(name, 0)
        for name in ("architecture", "width", "depth", "input_size", "batch_size")
    }


def _per_epoch(trial: Trial) -> float | None:
    """A trial's seconds per epoch: its training time (checkpoints included) when it has ended, else its epochs'."""
    if trial.train_seconds and trial.epochs_done:
        return trial.train_seconds / trial.epochs_done
    seconds = list(trial.epochs.exclude(seconds=None).values_list("seconds", flat=True))
    return statistics.median(seconds) if seconds else None


def measured_epoch_seconds(study: Study, config: dict) -> float | None:
    """Median seconds per epoch of this study's trials of the same network, size and batch (None: none yet)."""
    same = Trial.objects.filter(study=study, **_same_model(config))
    values = [v for v in (_per_epoch(t) for t in same.exclude(epochs_done=0)) if v is not None]
    return statistics.median(values) if values else None


def probe_factor(study: Study) -> float:
    """How much longer this study's epochs really took than their speed probe said (median over trials)."""
    ratios = []
    for trial in Trial.objects.filter(study=study, epochs_done__gt=0).exclude(estimated_epoch_seconds=None):
        per_epoch = _per_epoch(trial)
        if per_epoch and trial.estimated_epoch_seconds:
            ratios.append(per_epoch / trial.estimated_epoch_seconds)
    return statistics.median(ratios) if ratios else DEFAULT_PROBE_FACTOR


def estimate_epoch(study: Study, config: dict, probe) -> EpochEstimate:
    """Seconds per epoch of `config`: measured in this study, else `probe(config)` seconds x probe_factor."""
    measured = measured_epoch_seconds(study, config)
    if measured is not None:
        return EpochEstimate(measured, "measured")
    probed = probe(config)
    return EpochEstimate(probed * probe_factor(study), "probe", probe_seconds=probed)


def overhead_seconds(study: Study, config: dict) -> float:
    """A trial's cost besides its epochs; the first trial at an input size also decodes the dataset."""
    seen = Trial.objects.filter(study=study, config__input_size=config.get("input_size")).exclude(
        state__in=[Trial.State.SKIPPED, Trial.State.RUNNING]
    )
    decode = 0.0 if seen.exists() else (study.dataset.image_count or 0) * DECODE_SECONDS_PER_IMAGE
    return TRIAL_OVERHEAD_SECONDS + decode


def slice_seconds(study: Study, *, share: float | None, remaining: float) -> float:
    """The seconds this trial may use: its share of the budget, or all that is left when too little would remain."""
    budget = float(study.timeout_seconds or 0)
    wanted = (share if share is not None else SEARCH_SHARE) * budget
    if remaining - wanted < 0.5 * SEARCH_SHARE * budget:  # what would be left could not hold a useful trial
        return remaining
    return min(wanted, remaining)


def fit_epochs(
    space: dict,
    *,
    slice_s: float,
    epoch_s: float,
    overhead_s: float,
    max_epochs: int | None = None,
    remaining_s: float | None = None,
) -> int | None:
    """The most epochs within the space's range (and `max_epochs`) that fit in `slice_s`.

    When not even the range's low end fits the slice (a big dataset, a short budget) but
    it fits in `remaining_s`, the low end: a study should train something rather than end
    empty. None when it does not fit at all.
    """
    low, high = (int(e) for e in space["epochs"])
    if max_epochs:
        high = max(low, min(high, max_epochs))
    if epoch_s <= 0:
        return high
    fitting = math.floor((slice_s - overhead_s) / epoch_s)
    if fitting >= low:
        return min(high, fitting)
    room = slice_s if remaining_s is None else remaining_s
    return low if low * epoch_s + overhead_s <= room else None


@dataclass(frozen=True)
class Sizing:
    """A trial's epochs for its slice (None: it does not fit, `message` says why) and the probe's epoch seconds."""

    epochs: int | None
    probe_seconds: float | None = None
    message: str = ""


def probe_epoch_seconds(client, dataset, config: dict) -> float:
    """Seconds one epoch of `config` over `dataset` takes on the training service, from its speed probe."""
    report = client.speed(config, len(dataset.classes))
    train = (dataset.train_count or 0) / report.train_images_per_second
    return train + (dataset.val_count or 0) / report.eval_images_per_second


def size_trial(study: Study, config: dict, *, share: float | None, max_epochs: int | None, probe) -> Sizing:
    """The epochs that fill this trial's slice of what is left of the time budget.

    `share` is a portfolio entry's share of the budget (None: a sampled trial);
    `probe(config)` gives the speed probe's seconds per epoch when nothing was measured.
    """
    remaining = progress.remaining_seconds(study) or 0.0
    estimate = estimate_epoch(study, config, probe)
    overhead = overhead_seconds(study, config)
    epochs = fit_epochs(
        study.space, slice_s=slice_seconds(study, share=share, remaining=remaining), epoch_s=estimate.seconds,
        overhead_s=overhead, max_epochs=max_epochs, remaining_s=remaining,
    )  # fmt: skip
    if epochs is not None:
        return Sizing(epochs, estimate.probe_seconds)
    fewest = int(study.space["epochs"][0])
    return Sizing(
        None,
        message=(
            f"Not started: even {fewest} epoch(s) would take about {fewest * estimate.seconds + overhead:.0f} s "
            f"and the time budget has {remaining:.0f} s left."
        ),
    )
