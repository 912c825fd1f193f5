"""Fixtures of the inference service tests: a model trained once by the real engine, the app in this process."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import torch
from PIL import Image

from tests.trainer_api.dataset_builder import make_dataset_dir
from trainer_api.engine.config import TrialConfig
from trainer_api.engine.trial import run_trial
from trainer_api.inference_app import create_inference_app
from trainer_api.settings import InferenceSettings

TOKEN = "inference-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

torch.set_num_threads(1)  # the machine's cores are shared


@pytest.fixture(scope="session")
def trained_trial(tmp_path_factory) -> Path:
    """A finished trial folder (model.pth, result.json) of simple_cnn on bright vs dark squares."""
    folder = tmp_path_factory.mktemp("inference-model")
    dataset = make_dataset_dir(folder / "dataset", classes=["bright", "dark"], per_class=12, size=16)
    config = TrialConfig(architecture="simple_cnn", input_size=16, batch_size=8, epochs=3, learning_rate=0.02,
                         augment=False, diverge_check_epochs=0, seed=0)  # fmt: skip
    work_dir = folder / "trials" / "study-a-0"
    result = run_trial(config, dataset, work_dir, folder / "cache", device="cpu", num_threads=1)
    assert result.model_path and result.status == "completed", result.message
    return work_dir


def install(trial_dir: Path, data_dir: Path, key: str, *, accuracy: float | None = None, age: float = 0.0) -> str:
    """Copy a finished trial under `data_dir/trials/<key>/`; optionally rewrite its accuracy and age its result."""
    target = data_dir / "trials" / key
    shutil.copytree(trial_dir, target)
    result_file = target / "result.json"
    if accuracy is not None:
        data = json.loads(result_file.read_text())
        data["result"]["best_val_accuracy"] = accuracy
        result_file.write_text(json.dumps(data))
    if age:
        stat = result_file.stat()
        os.utime(result_file, (stat.st_atime - age, stat.st_mtime - age))
    return f"trials/{key}/model.pth"


@pytest.fixture
def inference_settings(tmp_path) -> InferenceSettings:
    return InferenceSettings(token=TOKEN, data_dir=tmp_path / "data", device="cpu", threads=1, models=4, preload=2,
                             scan_seconds=0, batch_window_ms=20, max_batch=64)  # fmt: skip


@asynccontextmanager
async def running(settings: InferenceSettings, **changes) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    """The app with its lifespan run (preloading included) and an HTTP client that sends the token."""
    app = create_inference_app(replace(settings, **changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://inference", headers=AUTH) as client:
            yield app, client


def png(level: int, size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (level, level, level)).save(buffer, format="PNG")
    return buffer.getvalue()
