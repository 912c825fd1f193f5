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
     "portfolio": [{"params": {...}, "share": 0.5, "name": "..."}, ...]}   # see portfolio.py

The numeric ranges (learning rates, weight decay, augmentation strength, label smoothing)
and their defaults are declared once in `trainer_api/engine/hyperparameters.py`; this module
stores, defaults and draws them generically (`range_form_values`, `range_from_form`,
`_draw_numbers`). Optuna parameter names are the config names, except that SGD's learning rate is
`learning_rate_sgd` (its range differs, and a parameter keeps one distribution) and
depth is `<architecture>_depth` (each family has its own range). A choice with one
option and a range whose ends are equal are fixed, not searched, so samplers that need
numeric spaces (CMA-ES) see only real ranges. With `fit_epochs` the epochs are not an
Optuna parameter at all: they are the resource, sized by `budget.fit_epochs` to the
trial's slice of the time budget, and recorded on the trial.
"""

from __future__ import annotations

import math

from platform_web.studies import pretrained as pretraining
from platform_web.studies.portfolio import portfolio_entries
from trainer_api.engine.hyperparameters import HYPERPARAMETERS, SEARCH_RANGES

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
        **range_form_values({}, on_gpu),
        "n_trials": 30,
        "timeout_minutes": 60 if not on_gpu else 240,
        "parallel_trials": 1,
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
        "pretrained": space.get("pretrained", "off"),
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


def has_width(space: dict, architecture: str) -> bool:
    """Whether `architecture` takes the width and depth settings (the small-image families)."""
    return architecture in space.get("arch_depths", {})


def _choice(trial, name: str, options: list):
    return options[0] if len(options) == 1 else trial.suggest_categorical(name, options)


def _float(trial, name: str, bounds: list[float], *, log: bool):
    low, high = bounds
    if low == high:
        return float(low)
    return trial.suggest_float(name, low, high, log=log)


def _int(trial, name: str, bounds: list[int], *, log: bool = False) -> int:
    low, high = int(bounds[0]), int(bounds[1])
    return low if low == high else trial.suggest_int(name, low, high, log=log)


def set_epochs(params: dict, config: dict, space: dict, epochs: int) -> None:
    """Give the trial `epochs`, and check for a diverged run after a fifth of them (at least the space's epochs).

    A fixed epoch would judge a long one-cycle schedule while its rate is still rising.
    """
    params["epochs"] = config["epochs"] = epochs
    if "diverge_check_epochs" in space:
        config["diverge_check_epochs"] = max(int(space["diverge_check_epochs"]), math.ceil(0.2 * epochs))


def suggest_config(trial, space: dict, *, seed: int) -> tuple[dict, dict]:
    """Draw one trial's hyperparameters. Returns (params shown to the user, TrialConfig dict).

    With `space["fit_epochs"]` the epochs are left at the range's top: the objective sizes
    them to the trial's time slice (`budget.fit_epochs`) before the trial starts.
    """
    arch = _choice(trial, "architecture", space["architectures"])
    pretrained_options = pretraining.options(space, arch)
    pretrained = bool(_choice(trial, "pretrained", list(pretrained_options)))
    input_size = int(_choice(trial, "input_size", space["input_sizes"]))
    minimum = space["arch_min_input"].get(arch, 1)
    if input_size < minimum:
        # A size below this architecture's minimum: take the smallest chosen size it accepts
        # (the form guarantees one exists), and say so on the trial.
        input_size = min(s for s in space["input_sizes"] if s >= minimum)
        trial.set_user_attr("input_size_used", input_size)
    width = depth = 0
    if has_width(space, arch):
        width = _int(trial, "width", space["widths"], log=True)
        low, high = space["arch_depths"][arch]
        if arch == "bn_cnn":  # every block halves the image: at most log2(size) blocks
            high = max(low, min(high, int(math.log2(input_size))))
        depth = _int(trial, f"{arch}_depth", [low, high])
    batch_size = int(_choice(trial, "batch_size", space["batch_sizes"]))
    low, high = space["epochs"]
    if space.get("fit_epochs"):
        epochs = high
    else:
        epochs = low if low == high else trial.suggest_int("epochs", low, high)
    optimizer = _choice(trial, "optimizer", space["optimizers"])
    if space["augment"] == "search":
        augment = bool(trial.suggest_categorical("augment", [False, True]))
    else:
        augment = space["augment"] == "on"
    numbers = _draw_numbers(trial, space, {"optimizer": optimizer, "augment": augment, "pretrained": pretrained})
    if not pretrained:
        numbers.pop("freeze_epochs", None)  # shown only where it means something; the config gets 0
    params = {"architecture": arch, **({"pretrained": pretrained} if True in pretrained_options else {})}
    if width:
        params.update(width=width, depth=depth)
    params.update(
        {
            "input_size": input_size,
            "batch_size": batch_size,
            "epochs": epochs,
            "optimizer": optimizer,
            "augment": augment,
        }
    )
    params.update(numbers)
    config = dict(
        params, width=width, depth=depth, pretrained=pretrained, freeze_epochs=numbers.get("freeze_epochs", 0)
    )
    config.update(
        {
            "momentum": space.get("momentum", 0.9),
            "scheduler": space.get("scheduler", "cosine"),
            "warmup_epochs": 0,
            "early_stopping_patience": 0,
            "seed": seed,
        }
    )
    set_epochs(params, config, space, epochs)
    return params, config


def _draw_numbers(trial, space: dict, chosen: dict) -> dict:
    """Each searched number (hyperparameters.SEARCH_RANGES) drawn from the range that applies to `chosen`."""
    numbers = {}
    for parameter in HYPERPARAMETERS:
        if not parameter.searches:
            continue
        search = next((r for r in parameter.searches if r.applies(chosen) and r.key in space), None)
        if search is None:
            fallback = parameter.searches[0].value_otherwise
            numbers[parameter.name] = parameter.default if fallback is None else fallback
            continue
        low, high = space[search.key]
        if search.off_when_zero and high == 0:
            numbers[parameter.name] = parameter.type(0)
        elif parameter.type is int:
            numbers[parameter.name] = _int(trial, search.key, [low, high], log=search.log and low > 0)
        else:
            numbers[parameter.name] = _float(trial, search.key, [low, high], log=search.log and low > 0)
    return numbers
