"""The training engine: pure PyTorch (imports only torch, torchvision, numpy, PIL and the standard library).

The API is documented in trainer_api/README.md; the names below are all a caller needs.
They load on first use (PEP 562), so importing a torch-free part of the engine (the
catalog, the config, the manifest, image reading, errors) never loads torch: the web
process reads those and must stay without it.
"""

from __future__ import annotations

import importlib

# Each public name and the module of the engine that defines it.
_EXPORTS = {
    "ARCHITECTURES": "catalog",
    "IMAGENET_MEAN": "catalog",
    "IMAGENET_STD": "catalog",
    "ArchitectureSpec": "catalog",
    "ConfigError": "errors",
    "DatasetError": "errors",
    "EngineError": "errors",
    "EpochReport": "config",
    "TrialConfig": "config",
    "TrialResult": "config",
    "SNIPPET_FILENAME": "snippet_text",
    "snippet_source": "snippet_text",
    "architecture_info": "architectures",
    "build_model": "architectures",
    "load_model": "artefact",
    "DatasetTensors": "cache",
    "prepare_dataset": "cache",
    "choose_amp_dtype": "devices",
    "resolve_device": "devices",
    "predict": "inference",
    "prepare_images": "inference",
    "SpeedReport": "speed",
    "measure_speed": "speed",
    "run_trial": "trial",
    "available_weights": "weights",
    "check_weights": "weights",
    "find_weights": "weights",
    "hub_checkpoints_dir": "weights",
    "import_weights": "weights",
    "missing_weights_message": "weights",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
