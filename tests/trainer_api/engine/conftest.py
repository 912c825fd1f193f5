"""Fixtures of the engine tests: one CPU thread, tiny generated datasets, a shared decode cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainer_api.dataset_builder import make_dataset_dir


@pytest.fixture(autouse=True)
def one_thread():
    """Tests share two cores with other test runs: train on one thread and put the count back after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def bright_dark(tmp_path) -> Path:
    """2 classes (bright, dark) x 12 images of 16 px: 9 train + 3 val per class. Easy to learn."""
    return make_dataset_dir(tmp_path / "bright_dark", classes=["bright", "dark"], per_class=12, size=16)


@pytest.fixture
def dataset_factory(tmp_path):
    """`dataset_factory(name, **make_dataset_dir kwargs)` → a dataset folder under this test's tmp_path."""

    def make(name: str = "dataset", **kwargs) -> Path:
        return make_dataset_dir(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def folders(tmp_path):
    """(work_dir, cache_dir) for one trial."""
    return tmp_path / "work", tmp_path / "cache"
