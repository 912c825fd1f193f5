"""Builders for the service tests: a tiny generated dataset and trial bodies."""

from __future__ import annotations

from pathlib import Path

from tests.platform_processes import wait_for  # noqa: F401 (re-exported for the service tests)
from tests.trainer_api.dataset_builder import make_dataset_dir
from tests.trainer_process import TrainerProcess  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "service-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_dataset(root: Path, per_class: int = 12, size: int = 16) -> Path:
    """A ready dataset folder (manifest.json + files/) of two easy classes: bright and dark noisy squares."""
    return make_dataset_dir(root, classes=["bright", "dark"], per_class=per_class, size=size, kind="bright_dark")


def trial_body(key: str, dataset: Path, **config) -> dict:
    """A POST /v1/trials body for simple_cnn at 16 px; `config` overrides any field."""
    values = {"architecture": "simple_cnn", "input_size": 16, "batch_size": 8, "epochs": 2, "augment": False,
              "learning_rate": 0.01, "diverge_check_epochs": 0, "seed": 0}  # fmt: skip
    values.update(config)
    return {"key": key, "dataset_path": str(dataset), "config": values}
