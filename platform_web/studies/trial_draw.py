"""How one trial draws its hyperparameters from a study's stored space (`space.py`).

Optuna parameter names are the config names, except that SGD's learning rate is
`learning_rate_sgd` (its range differs, and a parameter keeps one distribution) and depth
is `<architecture>_depth` (each family has its own range). A choice with one option and a
range whose ends are equal are fixed, not searched, so samplers that need numeric spaces
(CMA-ES) see only real ranges. With `fit_epochs` the epochs are not an Optuna parameter at
all: they are the resource, sized by `budget.fit_epochs` to the trial's slice of the time
budget, and recorded on the trial.
"""

from __future__ import annotations

import math

from platform_web.studies import pretrained as pretraining
from trainer_api.engine.hyperparameters import HYPERPARAMETERS


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
            "class_weighting": space.get("class_weighting", "none"),
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
