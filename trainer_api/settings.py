"""Settings of the training service, from environment variables with laptop defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE_WORDS = {"1", "true", "yes", "on"}


def is_production() -> bool:
    """PRODUCTION read as Django reads it: 1, true, yes or on (any case)."""
    return os.environ.get("PRODUCTION", "").strip().lower() in TRUE_WORDS


def weights_dir_from_environment() -> Path:
    """TRAINER_WEIGHTS_DIR, by default `weights/` in the var folder (the web app's import_weights reads the same)."""
    return Path(os.environ.get("TRAINER_WEIGHTS_DIR") or Path(os.environ.get("VAR_DIR", BASE_DIR / "var")) / "weights")


def data_dir_from_environment() -> Path:
    """TRAINER_DATA_DIR, by default `trainer/` in the media folder (the web app serves downloads from it)."""
    return Path(
        os.environ.get("TRAINER_DATA_DIR")
        or Path(os.environ.get("MEDIA_ROOT") or Path(os.environ.get("VAR_DIR", BASE_DIR / "var")) / "media") / "trainer"
    )


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass(frozen=True)
class TrainerSettings:
    token: str = field(default_factory=lambda: os.environ.get("TRAINER_TOKEN", "dev-trainer-token"))
    # Trials' checkpoints, events and artefacts. Shared with the web app (it serves the downloads).
    data_dir: Path = field(default_factory=data_dir_from_environment)
    # The only folder trials may read datasets from (default: `datasets/` beside the data folder,
    # where the web app keeps them); a path outside it is refused as if it did not exist.
    datasets_dir: Path | None = field(
        default_factory=lambda: (
            Path(os.environ["TRAINER_DATASETS_DIR"]) if os.environ.get("TRAINER_DATASETS_DIR") else None
        )
    )
    # Decoded dataset tensors, one file per (dataset content hash, input size).
    cache_dir: Path = field(
        default_factory=lambda: Path(
            os.environ.get("TRAINER_CACHE_DIR", Path(os.environ.get("VAR_DIR", BASE_DIR / "var")) / "trainer-cache")
        )
    )
    device: str = field(default_factory=lambda: os.environ.get("TRAINER_DEVICE", "auto"))
    # Trials allowed to train at once on this service (one per GPU by default).
    max_concurrent_trials: int = field(default_factory=lambda: int(os.environ.get("TRAINER_MAX_TRIALS", "1")))
    # Pretrained weight files (<architecture>.pth, put there by `manage.py import_weights`); torchvision's
    # cache ($TORCH_HOME/hub/checkpoints) is searched too (engine/weights.py).
    weights_dir: Path | None = field(default_factory=lambda: weights_dir_from_environment())
    # Without the platform's media folder (trainer_api/file_transfer.py): the web app's URL to download
    # datasets from and send trial files to ("" = none; OBJECT_STORAGE_BUCKET, when set, is used instead),
    # and the most megabytes of downloaded datasets kept (least recently used deleted first).
    platform_url: str = field(default_factory=lambda: os.environ.get("TRAINER_PLATFORM_URL", "").strip())
    datasets_cache_mb: int = field(default_factory=lambda: _int("TRAINER_DATASETS_CACHE_MB", 20_000))
    # Whether a pretrained trial without a weights file may download torchvision's (off: nothing is downloaded).
    download_weights: bool = field(
        default_factory=lambda: os.environ.get("TRAINER_DOWNLOAD_WEIGHTS", "").strip().lower() in TRUE_WORDS
    )


def get_settings() -> TrainerSettings:
    return TrainerSettings()


@dataclass(frozen=True)
class InferenceSettings:
    """The inference service's settings (`trainer_api.inference_app`): it reads the models the trainer writes."""

    token: str = field(default_factory=lambda: os.environ.get("TRAINER_TOKEN", "dev-trainer-token"))
    data_dir: Path = field(default_factory=data_dir_from_environment)
    # The CPU by default: on a one-GPU host the GPU's memory belongs to the training trial.
    device: str = field(default_factory=lambda: os.environ.get("INFERENCE_DEVICE") or "cpu")
    # torch's CPU threads for the forward passes (0 = half the cores this process may use, at least 1:
    # the event loop and the training service need the rest; see forward_threads()).
    threads: int = field(default_factory=lambda: _int("INFERENCE_THREADS", 0))
    # Models kept loaded (least recently used dropped first) and how many of them are preloaded:
    # the best model of each of the most recently finished studies.
    models: int = field(default_factory=lambda: _int("INFERENCE_MODELS", 4))
    preload: int = field(default_factory=lambda: _int("INFERENCE_PRELOAD", 2))
    # Seconds between looks for newly finished studies (0 = only at start).
    scan_seconds: float = field(default_factory=lambda: float(os.environ.get("INFERENCE_SCAN_SECONDS") or 30))
    # Dynamic batching: images for one model that arrive within the window share one forward pass,
    # at most max_batch of them (window 0 and max_batch 1: one image at a time).
    batch_window_ms: float = field(default_factory=lambda: float(os.environ.get("INFERENCE_BATCH_WINDOW_MS") or 5))
    max_batch: int = field(default_factory=lambda: _int("INFERENCE_MAX_BATCH", 64))

    def forward_threads(self) -> int:
        """The torch threads for the forward passes (INFERENCE_THREADS, else half the cores).

        Not every core: the event loop that reads the requests needs one. On a 2-core machine
        bench/serve.py (resnet18) answered 70 requests/s with 2 threads against 397 with 1.
        """
        if self.threads > 0:
            return self.threads
        return max(1, len(os.sched_getaffinity(0)) // 2)
