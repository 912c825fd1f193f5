"""What the service runs on: device, library versions, the architectures it can train and their weights."""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Any

import torch
import torchvision

from trainer_api import engine

# Parameter counts are given for this output layer and input size (simple_cnn's linear layer grows with it).
PARAM_COUNT_CLASSES = 10
PARAM_COUNT_INPUT_SIZE = 32


def device_info(setting: str) -> dict[str, Any]:
    """The device trials run on for TRAINER_DEVICE=`setting`: "cpu" or the CUDA device's name and memory."""
    wants_cuda = setting.startswith("cuda") or (setting == "auto" and torch.cuda.is_available())
    if not wants_cuda or not torch.cuda.is_available():
        return {"device": "cpu", "device_type": "cpu", "device_memory_bytes": None}
    index = torch.device(setting if setting != "auto" else "cuda").index or 0
    properties = torch.cuda.get_device_properties(index)
    return {"device": properties.name, "device_type": "cuda", "device_memory_bytes": int(properties.total_memory)}


def versions() -> dict[str, str]:
    """torch, torchvision and Python versions of this process."""
    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version()}


@functools.cache
def architectures() -> tuple[dict[str, Any], ...]:
    """Every architecture's name, description, minimum input size and parameter count (computed once)."""
    return tuple(engine.architecture_info(num_classes=PARAM_COUNT_CLASSES, input_size=PARAM_COUNT_INPUT_SIZE))


def weights_sources(weights_dir: Path | None, download: bool) -> dict[str, dict[str, Any]]:
    """{architecture: {"pretrained_weights", "weights_source"}} for the architectures that can start pretrained.

    Read at every call (a file imported while the service runs counts at once). The source is
    "weights folder" (TRAINER_WEIGHTS_DIR), "torchvision cache" ($TORCH_HOME/hub/checkpoints),
    "download" (none here, TRAINER_DOWNLOAD_WEIGHTS=1) or None (none: pretrained is refused).
    """
    found = engine.available_weights(weights_dir)
    answer = {}
    for name in engine.ARCHITECTURES:
        if not engine.ARCHITECTURES[name].torchvision:
            continue
        path = found.get(name)
        if path is not None:
            in_folder = weights_dir is not None and path.parent == Path(weights_dir)
            source = "weights folder" if in_folder else "torchvision cache"
        else:
            source = "download" if download else None
        answer[name] = {"pretrained_weights": source is not None, "weights_source": source}
    return answer
