"""What a trial is asked to do (TrialConfig) and what it reports (EpochReport, TrialResult)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .catalog import ARCHITECTURES, architecture_options
from .errors import ConfigError
from .hyperparameters import HYPERPARAMETERS

STATUSES = ("completed", "early_stopped", "cancelled", "diverged")


@dataclass(frozen=True)
class TrialConfig:
    """Hyperparameters of one trial. Invalid values raise ConfigError when the object is built.

    The fields, their defaults and allowed values are declared in hyperparameters.py (a
    test keeps this class and that table the same).

    `pretrained`: start from the architecture's ImageNet weights (torchvision networks only; the
    weights file must exist where `weights.find_weights` looks, else `run_trial` raises ConfigError)
    and normalise with ImageNet's mean/std. `freeze_epochs` (pretrained only): the first epochs
    train only the last layer.
    `width`, `depth`: the architecture's own size settings (small_resnet, bn_cnn; 0 = its
    default; other architectures have none and need 0).
    `scheduler`: "onecycle" (a linear rise from 1/25 of the rate over the first quarter of
    the steps, then cosine to zero), "cosine" (to zero at the last step), "step" (x0.1 at 1/2
    and 3/4 of the post-warm-up steps) or "constant"; all with a linear warm-up over
    `warmup_epochs` first.
    `class_weighting`: "none" or "balanced" (each class's images weigh n_train / (classes x
    the class's training images) in the loss, so a rare class counts as much as a common one).
    `early_stopping_patience`: epochs without a lower validation loss before stopping (0 = off).
    `diverge_check_epochs`: after this many epochs, a validation accuracy still at chance level
    stops the trial as "diverged" (0 = off).
    """

    architecture: str = "simple_cnn"
    pretrained: bool = False
    freeze_epochs: int = 0
    width: int = 0
    depth: int = 0
    input_size: int = 32
    batch_size: int = 64
    epochs: int = 10
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    label_smoothing: float = 0.0
    class_weighting: str = "none"
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    augment: bool = True
    augment_strength: float = 0.5
    early_stopping_patience: int = 0
    diverge_check_epochs: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        spec = ARCHITECTURES.get(self.architecture)
        if spec is None:
            raise ConfigError(f"Unknown architecture {self.architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
        for parameter in HYPERPARAMETERS:
            parameter.check(getattr(self, parameter.name))
        if self.input_size < spec.min_input_size:
            raise ConfigError(f"{self.architecture} needs input size >= {spec.min_input_size}, got {self.input_size}")
        architecture_options(self.architecture, self.width, self.depth, self.input_size)
        if self.pretrained and not spec.torchvision:
            torchvision_names = ", ".join(name for name, other in ARCHITECTURES.items() if other.torchvision)
            raise ConfigError(
                f"{self.architecture} has no pretrained weights; only {torchvision_names} can start pretrained"
            )
        if self.freeze_epochs and not self.pretrained:
            raise ConfigError("freeze_epochs needs pretrained=true: only pretrained layers are worth freezing")
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ConfigError(f"warmup_epochs ({self.warmup_epochs}) must be fewer than epochs ({self.epochs})")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrialConfig:
        """Build from a plain dict (JSON), refusing unknown keys with ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown trial setting(s): {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a plain JSON-ready dict."""
        return dataclasses.asdict(self)

    def same_as(self, stored: Any) -> bool:
        """Whether a stored configuration (a checkpoint's, a result's) is this one.

        A setting added since it was written takes its default, so a trial stored by an
        earlier version still resumes; an unknown or invalid setting makes it another trial.
        """
        if not isinstance(stored, dict):
            return False
        try:
            return TrialConfig.from_dict(stored) == self
        except (ConfigError, TypeError):
            return False


@dataclass(frozen=True)
class EpochReport:
    """Metrics of one finished epoch (`epoch` is 1-based). `seconds` covers training and validation."""

    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    images_per_second: float
    learning_rate: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)


@dataclass
class TrialResult:
    """Outcome of `run_trial`. Paths and hashes are None when no epoch finished (nothing to save).

    `batch_size` is the one it trained with (clamped to the training split, halved by an out-of-memory retry).
    """

    status: str
    message: str
    best_epoch: int | None = None
    best_val_accuracy: float | None = None
    best_val_loss: float | None = None
    epochs_run: int = 0
    train_seconds: float = 0.0
    latency_ms_batch1: float | None = None
    latency_ms_batch64: float | None = None
    param_count: int = 0
    model_path: str | None = None
    model_size_bytes: int | None = None
    model_sha256: str | None = None
    safetensors_path: str | None = None
    safetensors_sha256: str | None = None
    class_names: list[str] = field(default_factory=list)
    history: list[EpochReport] = field(default_factory=list)
    batch_size: int | None = None
    # Set when the trial ran out of device memory and was retried with half the batch size (memory_retry.py):
    # {"failed_batch_size", "batch_size", "error"}.
    out_of_memory_retry: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (history as a list of dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrialResult:
        """Inverse of `to_dict`."""
        values = dict(values)
        values["history"] = [EpochReport(**item) for item in values.get("history", [])]
        return cls(**values)
