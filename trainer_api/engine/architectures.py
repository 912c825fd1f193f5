"""The architecture builders: the catalog's names (`catalog.py`) made into models.

The small CNNs are defined in `snippet.py` (the self-contained file users get),
so the model a user rebuilds is the very class that was trained.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from . import weights
from .catalog import (  # noqa: F401 - re-exported: the engine's callers read the catalog from here too
    ARCHITECTURES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ArchitectureSpec,
    architecture_options,
    check_input_size,
    get_spec,
)
from .errors import ConfigError
from .snippet import CUSTOM_MODELS


def build_model(
    name: str,
    num_classes: int,
    input_size: int,
    *,
    options: dict[str, int] | None = None,
    pretrained: bool = False,
    weights_dir: str | Path | None = None,
    download: bool = False,
) -> tuple[nn.Module, Path | None]:
    """A fresh model whose output layer has `num_classes` units; returns (model, the weights file it started from).

    `options` are the width/depth of the architectures that have them (`architecture_options`).

    With `pretrained` a torchvision architecture starts from its weights file (`weights.find_weights`:
    `<weights_dir>/<name>.pth`, or torchvision's cache), all but its last layer, which starts fresh;
    ConfigError says how to add weights when there are none. Nothing is downloaded unless `download`.
    Without `pretrained` every model starts from random weights, whatever files exist.
    """
    check_input_size(name, input_size)
    if num_classes < 2:
        raise ConfigError(f"A classifier needs at least two classes, got {num_classes}")
    spec = get_spec(name)
    if not spec.torchvision:
        if pretrained:
            raise ConfigError(weights.missing_weights_message(name, weights_dir))
        return CUSTOM_MODELS[name](num_classes, input_size, **(options or {})), None
    builder: Callable[..., nn.Module] = getattr(torchvision.models, name)
    model = builder(weights=None, num_classes=num_classes)
    if not pretrained:
        return model, None
    path = weights.find_weights(name, weights_dir)
    if path is None and download:
        path = weights.download_weights(name)
    if path is None:
        raise ConfigError(weights.missing_weights_message(name, weights_dir))
    weights.load_backbone(model, name, weights.read_state_dict(path), path)
    return model, path


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of `model`."""
    return sum(p.numel() for p in model.parameters())


def architecture_info(num_classes: int = 10, input_size: int = 32) -> list[dict]:
    """Each architecture's name, description, minimum input size, parameter count, width and depth ranges.

    The count is for `num_classes` outputs at `input_size` (raised to the architecture's
    minimum; only simple_cnn's size depends on it). Models are built on the meta device,
    so this allocates no weights and takes milliseconds.
    """
    rows = []
    for spec in ARCHITECTURES.values():
        size = max(input_size, spec.min_input_size)
        with torch.device("meta"):
            model, _ = build_model(spec.name, num_classes, size)
        rows.append(
            {
                "name": spec.name,
                "description": spec.description,
                "min_input_size": spec.min_input_size,
                "param_count": count_parameters(model),
                "num_classes": num_classes,
                "input_size": size,
                "widths": list(spec.widths) if spec.widths else None,
                "default_width": spec.default_width or None,
                "depths": list(spec.depths) if spec.depths else None,
                "default_depth": spec.default_depth or None,
            }
        )
    return rows
