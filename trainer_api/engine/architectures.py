"""The architecture registry: names, minimum input sizes and builders.

The three small CNNs are defined in `snippet.py` (the self-contained file users get),
so the model a user rebuilds is the very class that was trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch import nn

from .errors import ConfigError
from .snippet import CUSTOM_MODELS


@dataclass(frozen=True)
class ArchitectureSpec:
    """One trainable architecture. `head` names the final linear layer of torchvision models.

    `widths` and `depths` are the (low, high) ranges of the architecture's own width and
    depth settings, with their defaults; None for architectures without them.
    """

    name: str
    min_input_size: int
    description: str
    torchvision: bool
    head: tuple[str | int, ...] = ()
    widths: tuple[int, int] | None = None
    default_width: int = 0
    depths: tuple[int, int] | None = None
    default_depth: int = 0


ARCHITECTURES: dict[str, ArchitectureSpec] = {
    spec.name: spec
    for spec in (
        ArchitectureSpec(
            "small_resnet",
            16,
            "ResNet-9 style: batch norm, residual blocks, global pooling (fast at 16-64 px)",
            False,
            widths=(8, 128),
            default_width=32,
            depths=(1, 3),
            default_depth=1,
        ),
        ArchitectureSpec(
            "bn_cnn",
            16,
            "blocks of two 3x3 conv + batch norm + ReLU and a max-pool, global pooling",
            False,
            widths=(8, 128),
            default_width=32,
            depths=(2, 5),
            default_depth=4,
        ),
        ArchitectureSpec("simple_cnn", 8, "one conv + max-pool + linear (PyTorch CIFAR tutorial style)", False),
        ArchitectureSpec("lite_cnn", 16, "three 5x5 conv blocks + 2048-wide classifier with dropout", False),
        ArchitectureSpec("cifar_net", 8, "two 3x3 conv blocks + two linear layers", False),
        ArchitectureSpec("resnet18", 32, "torchvision ResNet-18", True, ("fc",)),
        ArchitectureSpec("densenet121", 32, "torchvision DenseNet-121", True, ("classifier",)),
        ArchitectureSpec("mobilenet_v3_small", 32, "torchvision MobileNetV3-Small", True, ("classifier", 3)),
        ArchitectureSpec("efficientnet_b0", 32, "torchvision EfficientNet-B0", True, ("classifier", 1)),
    )
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def get_spec(name: str) -> ArchitectureSpec:
    """The registry entry for `name`, or ConfigError listing the known names."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(f"Unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None


def check_input_size(name: str, input_size: int) -> None:
    """Refuse an input size below the architecture's minimum with a message that says the minimum."""
    spec = get_spec(name)
    if input_size < spec.min_input_size:
        raise ConfigError(f"{name} needs input size >= {spec.min_input_size}, got {input_size}")


def architecture_options(name: str, width: int = 0, depth: int = 0, input_size: int | None = None) -> dict[str, int]:
    """The width/depth settings `name` is built with (0 = its default); {} for architectures without them.

    Raises ConfigError for a setting the architecture does not have or a value out of its
    range, and for a bn_cnn too deep for the input size (each block halves the image).
    """
    spec = get_spec(name)
    options: dict[str, int] = {}
    for option, value, allowed, default in (
        ("width", width, spec.widths, spec.default_width),
        ("depth", depth, spec.depths, spec.default_depth),
    ):
        if allowed is None:
            if value:
                raise ConfigError(f"{name} has no {option} setting; leave {option} at 0")
            continue
        value = value or default
        if not allowed[0] <= value <= allowed[1]:
            raise ConfigError(f"{name} needs {option} between {allowed[0]} and {allowed[1]}, got {value}")
        options[option] = value
    if name == "bn_cnn" and input_size is not None and input_size < 2 ** options["depth"]:
        raise ConfigError(
            f"bn_cnn of depth {options['depth']} needs input size >= {2 ** options['depth']}, got {input_size}"
        )
    return options


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
