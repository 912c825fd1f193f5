"""The inference service: the training service's predictions in a process of their own, batched.

`uvicorn trainer_api.inference_app:app` (127.0.0.1:8002 under `make up`) serves only
health, the loaded models and `POST /v1/predict` (the training service's contract), and
never trains, so a prediction never waits behind a trial. Concurrent images for one
model share forward passes (batching.py); the best model of each recent study is
loaded before the first request (preload.py) and recently used models stay loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import torch
from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile

from trainer_api import system
from trainer_api.auth import require_token
from trainer_api.batching import Batching
from trainer_api.errors import DEFAULT_TOKEN, TrainerError, error_response
from trainer_api.predictions import MAX_FILE_BYTES, MAX_FILES, ModelCache, check_count
from trainer_api.preload import RecentModels
from trainer_api.schemas import ErrorMessage, InferenceHealth, LoadedModels, PredictResponse
from trainer_api.settings import InferenceSettings, is_production
from trainer_api.trial_files import relative_path

log = logging.getLogger(__name__)

protected = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses={401: {"model": ErrorMessage}})
public = APIRouter(prefix="/v1")
ERRORS = {code: {"model": ErrorMessage} for code in (401, 404, 422)}


def get_batching(request: Request) -> Batching:
    return request.app.state.batching


BatchingDep = Annotated[Batching, Depends(get_batching)]


@public.get("/health", response_model=InferenceHealth)
def health(request: Request, batching: BatchingDep) -> InferenceHealth:
    """Device, versions, loaded models and forward passes; needs no token (the launcher and /healthz poll it)."""
    settings: InferenceSettings = request.app.state.settings
    info = system.device_info(settings.device)
    return InferenceHealth(
        status="ok", device=info["device"], device_type=info["device_type"], **system.versions(),
        models_loaded=len(batching.cache.loaded()), forward_passes=batching.forward_passes, images=batching.images,
        batch_window_ms=batching.window_s * 1000, max_batch=batching.max_batch,
    )  # fmt: skip


@protected.get("/models", response_model=LoadedModels)
def models(request: Request, batching: BatchingDep) -> LoadedModels:
    """The models in memory, those preloaded, and the sizes of the latest forward passes."""
    preloaded = [relative_path(path, batching.cache.data_dir) for path in request.app.state.preloaded]
    return LoadedModels(models=batching.cache.loaded(), preloaded=preloaded,
                        recent_batch_sizes=list(batching.batch_sizes)[-100:])  # fmt: skip


@protected.post("/predict", response_model=PredictResponse, responses={400: {"model": ErrorMessage}, **ERRORS})
async def predict(
    files: Annotated[list[UploadFile], File(description=f"one or more images (at most {MAX_FILES})")],
    model: Annotated[
        str, Form(max_length=1024, description="a model .pth / .safetensors path relative to TRAINER_DATA_DIR")
    ],
    batching: BatchingDep,
    top_k: Annotated[int, Form(ge=1, le=1000)] = 5,
) -> dict:
    """Top-k classes with probabilities for each image (as the training service's route answers)."""
    check_count(len(files))
    path = batching.cache.resolve(model)
    images = [await upload.read(MAX_FILE_BYTES + 1) for upload in files]
    outcomes, class_names = await batching.classify(path, images, top_k)
    results = [
        {"filename": upload.filename or f"file {i + 1}", "predictions": None, "error": outcome}
        if isinstance(outcome, str)
        else {"filename": upload.filename or f"file {i + 1}", "predictions": outcome, "error": None}
        for i, (upload, outcome) in enumerate(zip(files, outcomes, strict=True))
    ]
    return {"model": relative_path(path, batching.cache.data_dir), "class_names": class_names, "results": results}


class Warmer:
    """Loads the best model of each recent study that it has not loaded before (preload.py says which)."""

    def __init__(self, app: FastAPI, settings: InferenceSettings) -> None:
        self.app, self.settings = app, settings
        self.finder = RecentModels(settings.data_dir)
        self.warmed: set[tuple[str, int]] = set()  # one evicted by users' traffic is not loaded again and again

    async def warm(self) -> None:
        batching: Batching = self.app.state.batching
        count = min(self.settings.preload, self.settings.models)
        try:
            paths = await asyncio.to_thread(self.finder.best_of_recent_studies, count)
        except OSError:
            log.exception("could not look for recent models")
            return
        self.app.state.preloaded = paths
        for path in reversed(paths):  # the newest study's model ends most recently used
            try:
                key = (str(path), path.stat().st_mtime_ns)
                if key not in self.warmed:
                    self.warmed.add(key)  # a file that fails to load is not tried again until it changes
                    await batching.preload(path)
            except Exception:  # a damaged file must not stop the service, the other models or the next scans
                log.exception("could not preload %s", path)

    async def keep_warm(self) -> None:
        while True:
            await asyncio.sleep(self.settings.scan_seconds)
            await self.warm()


def create_inference_app(settings: InferenceSettings | None = None) -> FastAPI:
    """The inference service for `settings` (default: from the environment)."""
    settings = settings or InferenceSettings()
    if is_production() and settings.token == DEFAULT_TOKEN:
        raise RuntimeError("Refusing to start in production with the default TRAINER_TOKEN: set TRAINER_TOKEN.")
    torch.set_num_threads(settings.forward_threads())
    cache = ModelCache(settings.data_dir, capacity=max(1, settings.models), device=settings.device)
    batching = Batching(cache, window_ms=settings.batch_window_ms, max_batch=settings.max_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        warmer = Warmer(app, settings)
        await warmer.warm()  # loaded before the service answers its health check
        scans = asyncio.create_task(warmer.keep_warm()) if settings.scan_seconds > 0 else None
        try:
            yield
        finally:
            if scans is not None:
                scans.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scans
            batching.close()

    app = FastAPI(title="Inference service", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.batching = batching
    app.state.model_cache = cache
    app.state.preloaded = []
    app.include_router(public)
    app.include_router(protected)
    app.add_exception_handler(TrainerError, error_response)
    return app


app = create_inference_app()
