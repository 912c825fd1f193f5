"""Pretrained weights in a study: which architectures may start from them, and what the form says about it.

The training service reports, per architecture, whether a pretrained trial can start
(`pretrained_weights` in `GET /v1/architectures`: a weights file is there, or downloads are
allowed). The space stores the form's choice (`"pretrained": "off" | "on" | "search"`) and the
chosen architectures that have weights (`"pretrained_architectures"`); every other
architecture trains from scratch whatever the choice. Torch-free (the web process reads it).
"""

from __future__ import annotations

from trainer_api.engine.catalog import ARCHITECTURES

PRETRAINED = {"off": "Off", "on": "On", "search": "Try both"}
IMPORT_COMMAND = "python manage.py import_weights FILE --arch NAME"
TORCHVISION = [name for name, spec in ARCHITECTURES.items() if spec.torchvision]
# Which network a default form fine-tunes when several have weights: the one that fine-tunes most reliably first.
PREFERENCE = ("resnet18", "mobilenet_v3_small", "efficientnet_b0", "densenet121")


def with_weights(architectures: list[dict]) -> list[str]:
    """Names of the architectures the training service can start pretrained."""
    return [a["name"] for a in architectures if a.get("pretrained_weights")]


def how_to_add(names: list[str]) -> str:
    """One sentence: how to give these architectures (default: every torchvision one) pretrained weights."""
    names = names or TORCHVISION
    return (
        f"To add weights for {', '.join(names)}: run `{IMPORT_COMMAND}` where the platform runs (or put "
        "torchvision's file in $TORCH_HOME/hub/checkpoints/ on the training service, or set "
        "TRAINER_DOWNLOAD_WEIGHTS=1 there), then reload this page."
    )


def field_help(available: list[str]) -> str:
    """The form's help text for the pretrained choice."""
    others = [name for name in TORCHVISION if name not in available]
    text = (
        f"Start {', '.join(available)} from ImageNet weights (images normalised as for ImageNet, lower learning "
        "rates, the first epochs training only the last layer). Other networks train from scratch."
    )
    return f"{text} {how_to_add(others)}" if others else text


def refusal(mode: str, chosen: list[str], available: list[str]) -> str | None:
    """Why this choice cannot run (no chosen architecture has weights), or None when it can."""
    if mode in ("", "off", None) or set(chosen) & set(available):
        return None
    if not available:
        return (
            "No architecture has pretrained weights on the training service, so pretrained cannot be on. "
            + how_to_add([name for name in chosen if name in TORCHVISION])
        )
    return (
        f"Pretrained weights exist only for {', '.join(available)}: choose one of them under Architectures, "
        "or turn pretrained off. " + how_to_add([name for name in chosen if name in TORCHVISION])
    )


def options(space: dict, arch: str) -> tuple[bool, ...]:
    """The values `pretrained` can take for `arch` in `space`: (False,), (True,) or (False, True)."""
    if arch not in space.get("pretrained_architectures", ()):
        return (False,)
    return {"on": (True,), "search": (False, True)}.get(space.get("pretrained", "off"), (False,))


def possible(mode: str | None) -> set[bool]:
    """The values a trial of a form with this choice can give `pretrained` (networks without weights: False)."""
    return {True, False} if mode in ("on", "search") else {False}


def default_choice(architectures: list[dict], input_size: int) -> tuple[str | None, str]:
    """(the network a default study fine-tunes, "on"), or (None, "off") when no network that fits has weights."""
    fitting = {a["name"] for a in architectures if a.get("pretrained_weights") and a["min_input_size"] <= input_size}
    chosen = next((name for name in PREFERENCE if name in fitting), None) or next(iter(sorted(fitting)), None)
    return (chosen, "on") if chosen else (None, "off")


def summary(space: dict) -> str | None:
    """The study page's line about pretrained weights, or None when the study does not use them."""
    names = space.get("pretrained_architectures") or []
    mode = space.get("pretrained", "off")
    if mode == "off" or not names:
        return None
    return ("on" if mode == "on" else "tried with and without") + f" for {', '.join(names)}"
