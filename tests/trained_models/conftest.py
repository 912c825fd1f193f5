"""Fixtures of the trained-model tests: one tiny model trained once per session by the real engine."""

from __future__ import annotations

import pytest
import torch

from platform_web.celery import app
from tests.trained_models.builders import TrainedModel, install_trial, train_model
from tests.trainer_process import InferenceProcess
from worker import model_tasks  # noqa: F401 - registers the tasks, as a worker does: eager runs need them

torch.set_num_threads(1)  # the machine's cores are shared


@pytest.fixture(autouse=True)
def eager_tasks(settings):
    """The model page's Celery tasks run inside the request here (the real worker is the platform tests' job).

    Nothing reaches a broker: a test that wants the queue's behaviour patches `apply_async`.
    """
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert app.conf.task_always_eager, "Celery reads Django's settings: the tasks must run eagerly in these tests"


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedModel:
    """simple_cnn trained for a few epochs on the three-colour dataset (about 5 s on one core)."""
    return train_model(tmp_path_factory.mktemp("trained"))


@pytest.fixture
def trial(trained, user, db):
    """The trained model installed for alice: files in this test's media folders, Dataset/Study/Trial rows."""
    return install_trial(trained, user)


# The bearer token of the inference service the try-it and prediction API tests start.
INFERENCE_TOKEN = "models-test-token"


@pytest.fixture(scope="module")
def inference_service(tmp_path_factory):
    """A real inference service (its own process, free port) for the tests of one module."""
    service = InferenceProcess(tmp_path_factory.mktemp("inference"), token=INFERENCE_TOKEN)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def served_trial(settings, inference_service, trained, user):
    """The trained model installed in the folder the running inference service serves from."""
    settings.TRAINER_DATA_DIR = inference_service.data_dir
    settings.INFERENCE_URL = inference_service.url
    settings.TRAINER_TOKEN = INFERENCE_TOKEN
    return install_trial(trained, user)
