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


def weights_file(name: str, weights_dir: str | Path | None) -> Path | None:
    """`<weights_dir>/<name>.pth` when it exists for a torchvision architecture, else None."""
    if weights_dir is None or not get_spec(name).torchvision:
        return None
    path = Path(weights_dir) / f"{name}.pth"
    return path if path.is_file() else None


def build_model(
    name: str,
    num_classes: int,
    input_size: int,
    *,
    options: dict[str, int] | None = None,
    weights_dir: str | Path | None = None,
) -> tuple[nn.Module, bool]:
    """A fresh model whose output layer has `num_classes` units; returns (model, pretrained).

    `options` are the width/depth of the architectures that have them (`architecture_options`).

    A torchvision architecture starts from `<weights_dir>/<name>.pth` (an ImageNet state_dict)
    when that file exists, with only its last layer replaced; nothing is ever downloaded.
    """
    check_input_size(name, input_size)
    if num_classes < 2:
        raise ConfigError(f"A classifier needs at least two classes, got {num_classes}")
    spec = get_spec(name)
    if not spec.torchvision:
        return CUSTOM_MODELS[name](num_classes, input_size, **(options or {})), False
    builder: Callable[..., nn.Module] = getattr(torchvision.models, name)
    path = weights_file(name, weights_dir)
    if path is None:
        return builder(weights=None, num_classes=num_classes), False
    model = builder(weights=None)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as e:
        raise ConfigError(f"The weights file {path} does not fit {name}: {e}") from e
    parent, last = _locate(model, spec.head)
    old = getattr(parent, last) if isinstance(last, str) else parent[last]
    new = nn.Linear(old.in_features, num_classes)
    if isinstance(last, str):
        setattr(parent, last, new)
    else:
        parent[last] = new
    return model, True


def _locate(model: nn.Module, head: tuple[str | int, ...]) -> tuple[nn.Module, str | int]:
    parent = model
    for step in head[:-1]:
        parent = getattr(parent, step) if isinstance(step, str) else parent[step]
    return parent, head[-1]


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
