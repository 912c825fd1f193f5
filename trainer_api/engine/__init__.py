"""The training engine: pure PyTorch (imports only torch, torchvision, numpy, PIL and the standard library).

The API is documented in trainer_api/README.md; the names below are all a caller needs.
"""

from .architectures import ARCHITECTURES, IMAGENET_MEAN, IMAGENET_STD, ArchitectureSpec, architecture_info, build_model
from .artefact import load_model
from .cache import DatasetTensors, prepare_dataset
from .config import EpochReport, TrialConfig, TrialResult
from .devices import choose_amp_dtype, resolve_device
from .errors import ConfigError, DatasetError, EngineError
from .predict import predict, prepare_images
from .snippet_text import SNIPPET_FILENAME, snippet_source
from .speed import SpeedReport, measure_speed
from .trial import run_trial

__all__ = [
    "ARCHITECTURES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ArchitectureSpec",
    "ConfigError",
    "DatasetError",
    "DatasetTensors",
    "EngineError",
    "EpochReport",
    "SNIPPET_FILENAME",
    "SpeedReport",
    "TrialConfig",
    "TrialResult",
    "architecture_info",
    "build_model",
    "choose_amp_dtype",
    "load_model",
    "measure_speed",
    "predict",
    "prepare_dataset",
    "prepare_images",
    "resolve_device",
    "run_trial",
    "snippet_source",
]
