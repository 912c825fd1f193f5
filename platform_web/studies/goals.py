"""What a study looks for: the best accuracy, the best accuracy under a latency budget, or the accuracy-vs-latency front.

Stored on `Study.space` (no migration: the space is the study's settings as the form resolved them):

    "goal": "accuracy" | "latency_budget" | "pareto",
    "max_latency_ms": 5.0,        # latency_budget only: ms per image at batch 1 on the training device

Latency is the trial's `latency_ms_batch1`, measured by the training engine on its own
device when the trial ends (`trainer_api/engine/artefact.py`), so it is known for completed
trials only.

- **latency_budget**: one objective (accuracy); each completed trial also tells Optuna the
  constraint `latency_ms_batch1 - budget` (`Trial.set_constraint`, Optuna 5's replacement for
  `constraints_func`; > 0 is infeasible), so TPE files trials over the budget with the bad ones
  and `optuna.Study.best_trial` skips them. The pruner still works (it compares accuracy).
  A trial over the budget, or without a measured latency, is never the study's best trial.
- **pareto**: two objectives (maximise accuracy, minimise latency). Optuna cannot prune a
  multi-objective study (`Trial.report` raises), so the pruner is "none"; CMA-ES optimises one
  objective only, so it is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from platform_web.core import formatting

GOALS = {
    "accuracy": "Best accuracy (default)",
    "latency_budget": "Best accuracy under a latency budget",
    "pareto": "Accuracy vs latency (Pareto front)",
}
GOAL_HELP = (
    "Latency is measured after each trial on the training device, one image at a time. Under a budget, trials "
    "over it never become the best model and the sampler learns to avoid them. The Pareto front keeps every "
    "trial that no other beats on both accuracy and latency; Optuna cannot stop trials early there, so the "
    "pruner is off, and CMA-ES (one objective only) is not available."
)
BUDGET_HELP = "Milliseconds per image at batch 1 on the training device, for “Best accuracy under a latency budget”."
# The Optuna constraint's key (system attr "constraints:latency_ms_batch1").
CONSTRAINT_KEY = "latency_ms_batch1"


def goal_of(space: dict) -> str:
    """The study's goal; studies from before goals existed look for the best accuracy."""
    goal = space.get("goal") or "accuracy"
    return goal if goal in GOALS else "accuracy"


def latency_budget(space: dict) -> float | None:
    """The latency budget in ms per image, or None when the goal has none."""
    if goal_of(space) != "latency_budget" or space.get("max_latency_ms") is None:
        return None
    return float(space["max_latency_ms"])


def is_pareto(space: dict) -> bool:
    """True for the two-objective goal (no pruning, no CMA-ES)."""
    return goal_of(space) == "pareto"


def optuna_directions(space: dict) -> list[str]:
    """The Optuna study's directions: accuracy up, and for the front, latency down."""
    return ["maximize", "minimize"] if is_pareto(space) else ["maximize"]


def goal_problems(goal: str, max_latency_ms, sampler: str) -> dict[str, str]:
    """{field: message} for a goal the study cannot run with (the form and `start_study` both ask)."""
    problems = {}
    if goal == "latency_budget":
        if max_latency_ms is None:
            problems["max_latency_ms"] = (
                "Give the latency budget in milliseconds per image (batch 1, on the training device), e.g. 5."
            )
        elif not math.isfinite(float(max_latency_ms)) or float(max_latency_ms) <= 0:
            problems["max_latency_ms"] = "The latency budget must be a positive number of milliseconds, e.g. 5."
    if goal == "pareto" and sampler == "cmaes":
        problems["sampler"] = "CMA-ES optimises one objective; the Pareto front has two. Use TPE (or random search)."
    return problems


def within_budget(latency_ms: float | None, budget_ms: float | None) -> bool:
    """True when there is no budget, or the measured latency is within it (an unmeasured one is not)."""
    if budget_ms is None:
        return True
    return latency_ms is not None and math.isfinite(latency_ms) and latency_ms <= budget_ms


def constraint_value(latency_ms: float | None, budget_ms: float) -> float:
    """Optuna's constraint (<= 0 feasible): how far over the budget; a trial without a latency counts as over."""
    if latency_ms is None or not math.isfinite(latency_ms):
        return float(budget_ms)  # infeasible: nothing proves it fits
    return float(latency_ms) - float(budget_ms)


def may_be_best(value: float | None, latency_ms: float | None, space: dict) -> bool:
    """Whether a completed trial can be the study's best (its model the one the pages offer)."""
    return value is not None and within_budget(latency_ms, latency_budget(space))


def beats(trial, best, space: dict) -> bool:
    """Whether completed `trial` replaces `best` (None: no best yet) as the study's best trial.

    Higher accuracy wins. At equal accuracy a latency goal prefers the faster model (so a Pareto
    study's best is on its front); the plain accuracy goal keeps the first, as it always did.
    """
    if best is None or best.value is None:
        return True
    if trial.value != best.value:
        return trial.value > best.value
    if goal_of(space) == "accuracy" or trial.latency_ms_batch1 is None:
        return False
    return best.latency_ms_batch1 is None or trial.latency_ms_batch1 < best.latency_ms_batch1


def pareto_front(points: Iterable[tuple[int, float, float]]) -> set[int]:
    """Numbers of the (number, accuracy, latency) points no other point dominates.

    A point dominates another when it is at least as accurate and at least as fast, and
    strictly better in one (Optuna's rule for `best_trials`); equal points are both kept.
    One sweep from the fastest: a point is on the front when it beats every faster one's accuracy.
    """
    ordered = sorted(points, key=lambda p: (p[2], -p[1]))
    front: set[int] = set()
    best_accuracy, best_latency = -math.inf, None
    for number, accuracy, latency in ordered:
        if accuracy > best_accuracy:
            front.add(number)
            best_accuracy, best_latency = accuracy, latency
        elif accuracy == best_accuracy and latency == best_latency:
            front.add(number)
    return front


def measured(trials) -> list:
    """Completed trials with an accuracy and a measured latency (what the front and the chart use)."""
    return [
        t
        for t in trials
        if t.state == "completed"
        and t.value is not None
        and t.latency_ms_batch1 is not None
        and math.isfinite(t.latency_ms_batch1)
    ]


def front_numbers(trials) -> set[int]:
    """The trial numbers on the accuracy-vs-latency front."""
    return pareto_front((t.number, t.value, t.latency_ms_batch1) for t in measured(trials))


def chart_points(trials, model_url) -> list[dict]:
    """The study page's front chart: one point per measured trial, `model_url(trial)` its link."""
    rows = measured(trials)
    front = front_numbers(rows)
    return [
        {"number": t.number, "value": t.value, "latency_ms": t.latency_ms_batch1, "on_front": t.number in front,
         "model_url": model_url(t)}
        for t in sorted(rows, key=lambda t: t.number)
    ]  # fmt: skip


def goal_text(space: dict) -> str:
    """The goal in a few words, for the study page's summary and the command line."""
    goal = goal_of(space)
    if goal == "latency_budget":
        return f"best accuracy within {formatting.milliseconds(latency_budget(space))} per image"
    if goal == "pareto":
        return "accuracy vs latency (Pareto front)"
    return "best accuracy"


def goal_data(space: dict) -> dict:
    """The goal as the JSON API sends it."""
    return {"goal": goal_of(space), "max_latency_ms": latency_budget(space), "directions": optuna_directions(space),
            "text": goal_text(space)}  # fmt: skip


def unmet_budget(study, trials) -> str:
    """Why a budgeted study has no best trial ("" when it has one or no budget): the fastest completed trial."""
    budget = latency_budget(study.space)
    if budget is None or study.best_trial_id is not None:
        return ""
    done = [t for t in trials if t.state == "completed" and t.value is not None]
    if not done:
        return ""
    timed = [t for t in done if t.latency_ms_batch1 is not None]
    fastest = min(timed, key=lambda t: t.latency_ms_batch1) if timed else None
    detail = (
        f" The fastest of the {len(done)} completed trial{'s' if len(done) != 1 else ''}, #{fastest.number}, "
        f"takes {formatting.milliseconds(fastest.latency_ms_batch1)}."
        if fastest
        else ""
    )
    return (
        f"No trial met the latency budget of {formatting.milliseconds(budget)} per image.{detail} "
        "Clone the study with a larger budget, smaller input sizes or narrower networks."
    )


class UnmeasuredLatency(Exception):
    """A completed trial of a Pareto study without a measured latency: Optuna cannot place it on the front."""


def objective_values(optuna_trial, value: float, latency_ms: float | None, space: dict) -> float | tuple[float, float]:
    """What the objective returns to Optuna for a completed trial, after telling it the latency constraint.

    Budget: the accuracy, with the constraint set on the trial (its system attrs) first. Pareto:
    (accuracy, latency); without a latency it raises UnmeasuredLatency (the trial's row stays
    completed, Optuna marks it failed). Otherwise: the accuracy.
    """
    if latency_ms is not None:
        optuna_trial.set_user_attr("latency_ms_batch1", latency_ms)  # for optuna-dashboard and stock tools
    budget = latency_budget(space)
    if budget is not None:
        optuna_trial.set_constraint(CONSTRAINT_KEY, constraint_value(latency_ms, budget))
    if is_pareto(space):
        if latency_ms is None or not math.isfinite(latency_ms):
            raise UnmeasuredLatency("No latency was measured, so the trial cannot be placed on the Pareto front.")
        return float(value), float(latency_ms)
    return float(value)
