"""The portfolio start: a few strong configurations every study runs before its sampler.

They come from an offline study (`bench/portfolio.py`, results in the studies README):
on generated photos, drawings and scans, each candidate was trained with its epochs
fitted to the same time on the CPU. First a quick start on the family that is faster at
the study's input size (a good model within the first minutes), then a long one-cycle
run of ResNet-9 with stronger augmentation, which ended best. When the study may start a
network from pretrained weights (`pretrained.py`), a fine-tuning run of it comes between
the two (AdamW 1e-3, the first epoch training only the new last layer) and the long
run gives it part of its share.
Entries are templates: each is projected into the study's own space (values clamped
into its ranges, choices snapped to the nearest allowed one); an entry whose
architecture the user did not choose is left out, and when none is left the study
starts from one known-good configuration of the space instead.

`share` is the entry's slice of the time budget (budget.py sizes its epochs to it, at
most `max_epochs`); without a time budget an entry runs the middle of the epoch range.
"""

from __future__ import annotations

from platform_web.studies import pretrained as pretraining
from trainer_api.engine.hyperparameters import BY_NAME

# bn_cnn has no stem pooling and small_resnet none at or below this size: there bn_cnn is about
# twice as fast per epoch (bench/portfolio.py); above it small_resnet's stem pooling makes it the faster.
SMALL_INPUT = 40

QUICK = {
    "name": "Quick start",
    "share": 0.2,
    "max_epochs": 15,  # a good model within the first minutes, whatever the budget
    "params": {
        "width": 32, "batch_size": 64, "optimizer": "adamw", "learning_rate": 4e-3, "weight_decay": 5e-4,
        "augment": True, "augment_strength": 0.25, "label_smoothing": 0.1,
    },
}  # fmt: skip
LONG = {
    "name": "ResNet-9, long one-cycle",
    "share": 0.7,
    "params": {
        "architecture": "small_resnet", "width": 32, "depth": 1, "batch_size": 64, "optimizer": "adamw",
        "learning_rate": 4e-3, "weight_decay": 5e-4, "augment": True, "augment_strength": 0.4,
        "label_smoothing": 0.1,
    },
}  # fmt: skip
FINE_TUNE = {
    "name": "Fine-tune pretrained",
    "share": 0.3,
    "params": {
        "pretrained": True, "freeze_epochs": 1, "batch_size": 64, "optimizer": "adamw", "learning_rate": 1e-3,
        "weight_decay": 5e-4, "augment": True, "augment_strength": 0.25, "label_smoothing": 0.1,
    },
}  # fmt: skip
LONG_SHARE_WITH_FINE_TUNE = 0.45  # quick 0.2 + fine-tune 0.3 + long 0.45: within the budget
FAMILY_DEPTH = {"small_resnet": 1, "bn_cnn": 4}
# The learning rate's ranges (hyperparameters.py), each for an optimiser family, from scratch or pretrained.
LEARNING_RATE_RANGES = BY_NAME["learning_rate"].searches
DEFAULT_LR = {("sgd", False): 0.05, ("sgd", True): 0.01, ("adam", False): 3e-3, ("adam", True): 1e-3}


def templates(input_size: int, chosen: list[str], fine_tuned: str | None = None) -> list[dict]:
    """The entries for inputs of `input_size` px: a quick start on the faster chosen family, then a long run.

    With `fine_tuned` (a chosen network that may start pretrained) its fine-tuning run comes second.
    """
    preference = ("bn_cnn", "small_resnet") if input_size <= SMALL_INPUT else ("small_resnet", "bn_cnn")
    entries = []
    quick_arch = next((name for name in preference if name in chosen), None)
    if quick_arch is not None:
        quick = dict(QUICK, name=f"Quick start ({quick_arch})")
        quick["params"] = dict(QUICK["params"], architecture=quick_arch, depth=FAMILY_DEPTH[quick_arch])
        entries.append(quick)
    if fine_tuned is None:
        return [*entries, LONG]
    fine_tune = dict(FINE_TUNE, name=f"Fine-tune {fine_tuned} (pretrained)")
    fine_tune["params"] = dict(FINE_TUNE["params"], architecture=fine_tuned)
    return [*entries, fine_tune, dict(LONG, share=LONG_SHARE_WITH_FINE_TUNE)]


def _clamp(value: float, bounds: list) -> float:
    low, high = bounds
    return min(max(value, low), high)


def _nearest(value, options: list):
    return min(options, key=lambda option: (abs(option - value), option))


def project(template: dict, space: dict) -> dict | None:
    """The template's values as Optuna parameters of `space` (only the searched ones), or None if it does not fit."""
    arch = template["architecture"]
    if arch not in space["architectures"]:
        return None
    params: dict = {}
    if len(space["architectures"]) > 1:
        params["architecture"] = arch
    sizes = [s for s in space["input_sizes"] if s >= space["arch_min_input"].get(arch, 1)]
    if not sizes:
        return None
    if len(space["input_sizes"]) > 1:
        params["input_size"] = max(sizes)  # the largest chosen size: the portfolio is about accuracy
    if arch in space.get("arch_depths", {}):  # a family with width and depth settings
        if space["widths"][0] != space["widths"][1]:
            params["width"] = int(round(_clamp(template.get("width", 32), space["widths"])))
        low, high = space["arch_depths"][arch]
        if low != high:
            params[f"{arch}_depth"] = int(_clamp(template.get("depth", low), [low, high]))
    if len(space["batch_sizes"]) > 1:
        params["batch_size"] = _nearest(template.get("batch_size", 64), space["batch_sizes"])
    if not space.get("fit_epochs"):
        low, high = space["epochs"]
        if low != high:
            params["epochs"] = (low + high) // 2
    optimizer = template.get("optimizer", "adamw")
    if optimizer not in space["optimizers"]:
        optimizer = next((o for o in ("adamw", "adam", "sgd") if o in space["optimizers"]), space["optimizers"][0])
    if len(space["optimizers"]) > 1:
        params["optimizer"] = optimizer
    options = pretraining.options(space, arch)
    pretrained = bool(template.get("pretrained", False)) if template.get("pretrained", False) in options else options[0]
    if len(options) > 1:
        params["pretrained"] = pretrained
    chosen = {"optimizer": optimizer, "pretrained": pretrained}
    lr_range = next((r for r in LEARNING_RATE_RANGES if r.applies(chosen) and r.key in space), None)
    lr_bounds = space[lr_range.key] if lr_range else [0, 0]
    if lr_bounds[0] != lr_bounds[1]:
        same = template.get("optimizer", optimizer) == optimizer and template.get("pretrained", False) == pretrained
        lr = template["learning_rate"] if same else DEFAULT_LR[("sgd" if optimizer == "sgd" else "adam", pretrained)]
        params[lr_range.key] = _clamp(lr, lr_bounds)
    freeze = space.get("freeze_epochs")
    if pretrained and freeze and freeze[0] != freeze[1]:
        params["freeze_epochs"] = int(_clamp(template.get("freeze_epochs", 1), freeze))
    wd = space["weight_decay"]
    if wd[1] != 0 and wd[0] != wd[1]:
        params["weight_decay"] = _clamp(template.get("weight_decay", 5e-4), wd)
    augment = bool(template.get("augment", True))
    if space["augment"] == "search":
        params["augment"] = augment
    elif space["augment"] == "off":
        augment = False
    strength = space["augment_strength"]
    if augment and strength[0] != strength[1]:
        params["augment_strength"] = _clamp(template.get("augment_strength", 0.25), strength)
    smoothing = space["label_smoothing"]
    if smoothing[0] != smoothing[1]:
        params["label_smoothing"] = _clamp(template.get("label_smoothing", 0.1), smoothing)
    return params


def known_good(space: dict) -> dict:
    """One safe configuration of any space: the first chosen network, AdamW/Adam at 3e-3 or SGD at 0.05."""
    arch = space["architectures"][0]
    template = {"architecture": arch, "batch_size": 64, "optimizer": "adamw", "learning_rate": 3e-3,
                "weight_decay": 5e-4, "augment": True, "augment_strength": 0.25, "label_smoothing": 0.1}  # fmt: skip
    return project(template, space) or {}


def portfolio_entries(space: dict) -> list[dict]:
    """The portfolio for `space`: [{"name", "share", "max_epochs", "params"}, ...], never empty."""
    entries = []
    fine_tuned = next((a for a in space["architectures"] if True in pretraining.options(space, a)), None)
    for entry in templates(max(space["input_sizes"]), space["architectures"], fine_tuned):
        params = project(entry["params"], space)
        if params is not None:
            entries.append({"name": entry["name"], "share": entry["share"], "max_epochs": entry.get("max_epochs"),
                            "params": params})  # fmt: skip
    if not entries:
        entries.append({"name": "Known-good start", "share": 0.5, "max_epochs": None, "params": known_good(space)})
    return entries
