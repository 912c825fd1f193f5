"""How trials are compared: the pruner, and the steps trials report at (fractions of their own schedule).

A trial reports to the pruner at every tenth of its schedule (steps 10, 20, ..., 100),
whatever its number of epochs, so a long one-cycle schedule (still warming up at epoch 3)
is compared with a short one at the same point of its schedule, not at the same epoch.
"""

from __future__ import annotations

import optuna

from platform_web.studies import goals
from platform_web.studies.models import Study

# Trials report to the pruner at every tenth of their schedule (steps 10, 20, ..., 100).
SCHEDULE_STEP = 10


def schedule_points(epoch: int, epochs: int, accuracy: float, previous: float) -> list[tuple[int, float]]:
    """(step, accuracy) pairs for the pruner steps (per cent of the schedule) that epoch `epoch` of `epochs` reaches.

    Every trial reports the same steps whatever its length, each with its accuracy at
    that fraction of its own schedule: interpolated between the previous epoch's
    accuracy (`previous`; chance level before the first) and this one's. Epoch 1 of 4
    (25 %) reports steps 10 and 20, epoch 2 then 30, 40 and 50.
    """
    before, now = (epoch - 1) * 100 / epochs, epoch * 100 / epochs
    points = []
    for step in range(SCHEDULE_STEP, 101, SCHEDULE_STEP):
        if before < step <= now + 1e-9:
            weight = (step - before) / (now - before)
            points.append((step, previous + (accuracy - previous) * weight))
    return points


def make_pruner(study: Study) -> optuna.pruners.BasePruner:
    """The study's pruner, over steps that are per cent of each trial's schedule (`schedule_points`).

    The objective asks it after every step, not once per epoch: successive halving files
    a trial at a rung with the value of its last step, so a short schedule asked once per
    epoch would be filed with a later point of its schedule than a long one. Hyperband's
    brackets start at 10 %; the median pruner waits for 2 to 5 trials and never prunes
    before 30 % of a schedule.
    """
    if study.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=10, max_resource=100, reduction_factor=3)
    if study.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=10, reduction_factor=3)
    if study.pruner == "none" or goals.is_pareto(study.space):  # Optuna prunes single-objective studies only
        return optuna.pruners.NopPruner()
    startup = max(2, min(5, (study.n_trials or 20) // 4))
    return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=30)
