"""Fixtures of the service tests: the app on temporary folders, clients with and without the token."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from tests.trainer_api.service.helpers import AUTH, TOKEN, make_dataset
from trainer_api.app import create_app
from trainer_api.settings import TrainerSettings

torch.set_num_threads(1)  # trials train in this process's threads; the machine's cores are shared


@pytest.fixture
def trainer_settings(tmp_path) -> TrainerSettings:
    return TrainerSettings(token=TOKEN, data_dir=tmp_path / "trainer", cache_dir=tmp_path / "cache", device="cpu",
                           max_concurrent_trials=1)  # fmt: skip


@pytest.fixture
def service(trainer_settings):
    """The FastAPI app; its lifespan runs (and stops running trials) around the test."""
    app = create_app(trainer_settings)
    app.state.registry.num_threads = 1
    with TestClient(app) as anonymous:
        app.state.anonymous = anonymous
        yield app


@pytest.fixture
def client(service) -> TestClient:
    """A client that sends the right bearer token."""
    return TestClient(service, headers=AUTH)


@pytest.fixture
def anonymous(service) -> TestClient:
    return service.state.anonymous


@pytest.fixture
def registry(service):
    return service.state.registry


@pytest.fixture
def dataset(tmp_path):
    return make_dataset(tmp_path / "datasets" / "1")
