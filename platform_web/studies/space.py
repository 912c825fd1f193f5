"""The search space: budget-aware defaults, the stored form, and how a trial draws from it.

A space is a plain JSON dict stored on `Study.space`:

    {"architectures": ["small_resnet", "bn_cnn"], "arch_min_input": {"small_resnet": 16, ...},
     "arch_depths": {"small_resnet": [0, 2], "bn_cnn": [3, 5]},   # architectures with a depth
     "widths": [16, 64],                     # channels of small_resnet / bn_cnn (log scale)
     "input_sizes": [64], "batch_sizes": [32, 64, 128], "epochs": [3, 40],
     "fit_epochs": true,                     # a time budget: epochs are sized to each trial's slice
     "optimizers": ["adamw", "sgd"],
     "learning_rate": [3e-4, 1e-2],          # Adam and AdamW
     "learning_rate_sgd": [1e-2, 3e-1],      # SGD takes larger steps
     "weight_decay": [1e-5, 5e-3],           # [0, 0]: off
     "augment": "search" | "on" | "off", "augment_strength": [0.1, 0.5],
     "pretrained": "off" | "on" | "search", "pretrained_architectures": ["resnet18"],   # pretrained.py
     "learning_rate_pretrained": [1e-4, 3e-3], "freeze_epochs": [0, 2],   # pretrained trials only
     "label_smoothing": [0, 0.15],
     "momentum": 0.9, "scheduler": "onecycle", "diverge_check_epochs": 2,
     "class_weighting": "none" | "balanced",   # every trial's loss (not searched)
     "goal": "accuracy" | "latency_budget" | "pareto", "max_latency_ms": 5.0 | None,   # goals.py
     "portfolio": [{"params": {...}, "share": 0.5, "name": "..."}, ...]}   # see portfolio.py

The numeric ranges (learning rates, weight decay, augmentation strength, label smoothing)
and their defaults are declared once in `trainer_api/engine/hyperparameters.py`; this module
stores and defaults them generically (`range_form_values`, `range_from_form`), and
`trial_draw.py` draws each trial's values from the stored space.
"""

from __future__ import annotations

import math

from platform_web.datasets.balance import IMBALANCE_RATIO, training_imbalance
from platform_web.studies import goals
from platform_web.studies import pretrained as pretraining
from platform_web.studies.portfolio import portfolio_entries
from trainer_api.engine.hyperparameters import SEARCH_RANGES

INPUT_SIZES = (16, 24, 28, 32, 48, 64, 96, 128, 160, 224)
BATCH_SIZES = (16, 32, 64, 128, 256)
OPTIMIZERS = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD with momentum"}  # keys: hyperparameters.OPTIMIZERS
# Choice labels stay short (they fit a phone's select box); the form's help text explains them.
SAMPLERS = {
    "tpe": "TPE (default)",
    "random": "Random search",
    "cmaes": "CMA-ES",
    "qmc": "Quasi-Monte Carlo",
}
SAMPLER_HELP = ("How the next configuration is chosen. TPE learns from earlier trials; CMA-ES searches numeric "
                "ranges only; quasi-Monte Carlo spreads samples evenly.")  # fmt: skip
PRUNERS = {
    "hyperband": "Hyperband (default)",
    "median": "Median",
    "successive_halving": "Successive halving",
    "none": "None",
}
PRUNER_HELP = ("How weak trials are stopped early. Hyperband runs successive halving over several budgets; median "
               "stops a trial below the median of earlier trials at the same point; none runs every trial to "
               "its last epoch.")  # fmt: skip
AUGMENT = {"on": "On", "off": "Off", "search": "Try both"}
# Keys: trainer_api.engine.hyperparameters.CLASS_WEIGHTINGS.
CLASS_WEIGHTINGS = {"balanced": "Balanced", "none": "Off"}

# The small-image families; torchvision's ImageNet networks are offered on a GPU.
SMALL_IMAGE_FAMILIES = ("small_resnet", "bn_cnn")
GPU_EXTRA = ("resnet18",)


def _median_side(size_stats: dict) -> float | None:
    """The dataset's typical image side, from whatever statistics ingestion recorded."""
    if not isinstance(size_stats, dict):
        return None
    sides = []
    for axis in ("width", "height"):
        value = size_stats.get(axis)
        if isinstance(value, dict):
            value = value.get("median", value.get("mean"))
        if value is None:
            value = size_stats.get(f"median_{axis}", size_stats.get(f"{axis}_median"))
        if isinstance(value, int | float) and value > 0:
            sides.append(float(value))
    return min(sides) if sides else None


def default_input_size(size_stats: dict, on_gpu: bool) -> int:
    """The largest standard input size not above the images' median side (64 at most on CPU, 128 on a GPU)."""
    cap = 128 if on_gpu else 64
    side = _median_side(size_stats) or 32
    fitting = [s for s in INPUT_SIZES if s <= min(side, cap)]
    return fitting[-1] if fitting else INPUT_SIZES[0]


def default_architectures(architectures: list[dict], input_size: int, on_gpu: bool) -> list[str]:
    """The small-image families (and on a GPU ResNet-18); else the smallest networks that fit the input size."""
    names = {a["name"]: a for a in architectures}
    wanted = SMALL_IMAGE_FAMILIES + (GPU_EXTRA if on_gpu else ())
    chosen = [n for n in wanted if n in names and names[n]["min_input_size"] <= input_size]
    if chosen:
        return chosen
    fitting = sorted(
        (a for a in architectures if a["min_input_size"] <= input_size), key=lambda a: a.get("param_count") or 0
    )
    if not fitting:
        fitting = sorted(architectures, key=lambda a: a["min_input_size"])[:1]
    return [a["name"] for a in fitting[: 3 if on_gpu else 2]]


def default_epochs(train_count: int, on_gpu: bool) -> tuple[int, int]:
    """The epoch range: with a time budget, the bounds a trial's fitted epochs stay within."""
    if on_gpu:
        return (5, 60) if train_count <= 20_000 else (3, 40)
    if train_count <= 5_000:
        return (3, 40)
    if train_count <= 50_000:
        return (2, 30)
    return (1, 15)


def default_class_weighting(class_counts: dict) -> str:
    """ "balanced" when the largest class has more than IMBALANCE_RATIO times the smallest's training images."""
    imbalance = training_imbalance(class_counts)
    return "balanced" if imbalance is not None and imbalance.imbalanced else "none"


def class_weighting_help(class_counts: dict) -> str:
    """The form's help for class weighting, with this dataset's imbalance in figures."""
    imbalance = training_imbalance(class_counts)
    base = (
        "Balanced: each class's images count inversely to its size in the training loss, so rare classes are not "
        f"ignored. On by default when the largest class has over {IMBALANCE_RATIO:g}× the smallest's images."
    )
    if imbalance is None:
        return base
    if imbalance.largest_count == imbalance.smallest_count:
        return f"{base} Here every class has {imbalance.largest_count:,} training images."
    return (
        f"{base} Here “{imbalance.largest}” has {imbalance.largest_count:,} training images and "
        f"“{imbalance.smallest}” {imbalance.smallest_count:,} ({imbalance.ratio:.1f}×)."
    )


def default_form_values(*, dataset, device_type: str, architectures: list[dict]) -> dict:
    """The new-study form's initial values for this dataset on this training device."""
    on_gpu = device_type == "cuda"
    size = default_input_size(dataset.size_stats or {}, on_gpu)
    epochs = default_epochs(dataset.train_count or dataset.image_count, on_gpu)
    chosen = default_architectures(architectures, size, on_gpu)
    fine_tuned, pretrained = pretraining.default_choice(architectures, size)  # weights on the service: use them
    return {
        "name": f"{dataset.name} search",
        "architectures": chosen + [fine_tuned] if fine_tuned and fine_tuned not in chosen else chosen,
        "pretrained": pretrained,
        "width_min": 32 if on_gpu else 16,
        "width_max": 128 if on_gpu else 64,
        "input_sizes": [size],
        "batch_sizes": [64, 128, 256] if on_gpu else [32, 64, 128],
        "epochs_min": epochs[0],
        "epochs_max": epochs[1],
        "optimizers": ["adamw", "sgd"],
        "augment": "on",
        "class_weighting": default_class_weighting(dataset.class_counts),
        **range_form_values({}, on_gpu),
        "n_trials": 30,
        "timeout_minutes": 60 if not on_gpu else 240,
        "parallel_trials": 1,
        "goal": "accuracy",
        "sampler": "tpe",
        "pruner": "hyperband",  # bench/pruning.py: within ~1 point of no pruning at 0.6x the epochs
        "seed": 0,
    }


def build_space(values: dict, architectures: list[dict]) -> dict:
    """The stored space from the form's cleaned values (already validated)."""
    info = {a["name"]: a for a in architectures}
    chosen = list(values["architectures"])
    space = {
        "architectures": chosen,
        "arch_min_input": {name: info.get(name, {}).get("min_input_size", 1) for name in chosen},
        "arch_depths": {name: list(info[name]["depths"]) for name in chosen if info.get(name, {}).get("depths")},
        "widths": [int(values.get("width_min") or 16), int(values.get("width_max") or 64)],
        "input_sizes": sorted(int(s) for s in values["input_sizes"]),
        "batch_sizes": sorted(int(b) for b in values["batch_sizes"]),
        "epochs": [int(values["epochs_min"]), int(values["epochs_max"])],
        "fit_epochs": bool(values.get("timeout_minutes")),
        "optimizers": list(values["optimizers"]),
        "augment": values["augment"],
        "pretrained": values.get("pretrained") or "off",
        "pretrained_architectures": [name for name in chosen if info.get(name, {}).get("pretrained_weights")],
        **{search.key: range_from_form(values, parameter, search) for parameter, search in SEARCH_RANGES},
        "momentum": 0.9,
        "scheduler": "onecycle",
        "diverge_check_epochs": 2,
        "class_weighting": values.get("class_weighting") or "none",
        "goal": values.get("goal") or "accuracy",
        "max_latency_ms": float(values["max_latency_ms"]) if values.get("goal") == "latency_budget" else None,
    }
    space["portfolio"] = portfolio_entries(space)
    return space


def form_values_from_space(study) -> dict:
    """A study's settings as new-study form values (for "clone with changes")."""
    space = study.space
    widths = space.get("widths") or [16, 64]
    return {
        "name": f"{study.name} (copy)",
        "architectures": space["architectures"],
        "width_min": widths[0],
        "width_max": widths[1],
        "input_sizes": [str(s) for s in space["input_sizes"]],
        "batch_sizes": [str(b) for b in space["batch_sizes"]],
        "epochs_min": space["epochs"][0],
        "epochs_max": space["epochs"][1],
        "optimizers": space["optimizers"],
        "augment": space["augment"],
        "class_weighting": space.get("class_weighting", "none"),
        "pretrained": space.get("pretrained", "off"),
        "goal": goals.goal_of(space),
        "max_latency_ms": goals.latency_budget(space),
        **range_form_values(space, on_gpu=False),
        "n_trials": study.n_trials,
        "timeout_minutes": math.ceil(study.timeout_seconds / 60) if study.timeout_seconds else None,
        "parallel_trials": study.parallel_trials,
        "sampler": study.sampler,
        "pruner": study.pruner,
        "seed": study.seed,
    }


def range_form_values(space: dict, on_gpu: bool) -> dict:
    """The form's "from"/"to" values of every searched number: the space's ranges, else the defaults."""
    values = {}
    for _parameter, search in SEARCH_RANGES:
        low, high = space.get(search.key) or search.default_for(on_gpu)
        if not search.upper_only:
            values[f"{search.key}_min"] = low
        values[f"{search.key}_max"] = high
    return values


def range_from_form(values: dict, parameter, search) -> list[float]:
    """One searched number's stored [low, high] from the form's cleaned values (its default when they lack it)."""
    high = values.get(f"{search.key}_max")
    high = float(search.default[1] if high is None else high)
    low = (parameter.low or 0.0) if search.upper_only else values.get(f"{search.key}_min")
    return [float(search.default[0] if low is None else low), high]


def possible_values(name: str, values: dict) -> set:
    """The values a trial of this form can give the choice `name` (optimizer, augment, pretrained): when a range applies."""
    if name == "pretrained":
        return pretraining.possible(values.get("pretrained"))
    if name == "optimizer":
        return set(values.get("optimizers") or [])
    if name == "augment":
        return {"on": {True}, "off": {False}, "search": {True, False}}.get(values.get("augment"), set())
    return set()


def space_summary(space: dict) -> list[tuple[str, str]]:
    """(label, text) of every searched number, as the study page lists them."""
    rows = [("Pretrained", text)] if (text := pretraining.summary(space)) else []
    for _parameter, search in SEARCH_RANGES:
        if search.key not in space or not all(  # pretrained ranges only in a study that uses pretrained weights
            possible_values(setting, space) & set(allowed)
            for setting, allowed in search.conditions
            if setting == "pretrained"
        ):
            continue
        low, high = space[search.key]
        if high == 0 and (search.off_when_zero or search.upper_only):
            text = "off"
        elif search.upper_only:
            text = f"up to {high:g}"
        else:
            text = f"{low:g} to {high:g}" + (" (log scale)" if search.log else "")
        rows.append((search.label.removesuffix(" up to"), text))
    if "class_weighting" in space:
        rows.append(("Class weighting", CLASS_WEIGHTINGS.get(space["class_weighting"], space["class_weighting"])))
    rows.append(("Goal", goals.goal_text(space)))
    return rows


def searched_choices(space: dict) -> list[str]:
    """Names of the categorical parameters with more than one option (CMA-ES cannot search them)."""
    names = [
        name
        for name, key in (
            ("architecture", "architectures"),
            ("input_size", "input_sizes"),
            ("batch_size", "batch_sizes"),
            ("optimizer", "optimizers"),
        )
        if len(space[key]) > 1
    ]
    if space["augment"] == "search":
        names.append("augment")
    if space.get("pretrained") == "search" and space.get("pretrained_architectures"):
        names.append("pretrained")
    return names
