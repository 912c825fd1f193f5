"""Fixtures of the trained-model tests: one tiny model trained once per session by the real engine."""

from __future__ import annotations

import pytest
import torch

from tests.trained_models.builders import TrainedModel, install_trial, train_model

torch.set_num_threads(1)  # the machine's cores are shared


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedModel:
    """simple_cnn trained for a few epochs on the three-colour dataset (about 5 s on one core)."""
    return train_model(tmp_path_factory.mktemp("trained"))


@pytest.fixture
def trial(trained, user, db):
    """The trained model installed for alice: files in this test's media folders, Dataset/Study/Trial rows."""
    return install_trial(trained, user)
