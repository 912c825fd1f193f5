"""The architectures' catalog: names, minimum input sizes, width and depth ranges, checks.

Imports no torch: the web process and the study space read it to offer and check
choices; `architectures.py` builds the models.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


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
