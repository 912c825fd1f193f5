"""The training service: FastAPI routes over the training engine (contract: trainer_api/README.md).

Routes parse and shape; trials.py runs trials, predictions.py classifies images.
`uvicorn trainer_api.app:app` serves the app built from the environment's settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Response, UploadFile, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from trainer_api import system
from trainer_api.auth import ModelCacheDep, RegistryDep, SettingsDep, require_token
from trainer_api.errors import DEFAULT_TOKEN, TrainerError, error_response
from trainer_api.predictions import MAX_FILES, ModelCache, predict_uploads
from trainer_api.remote_files import remote_files_from_settings
from trainer_api.schemas import (
    KEY_PATTERN,
    TRIAL_EVENT,
    Architecture,
    ErrorMessage,
    Health,
    PredictResponse,
    SpeedReport,
    SpeedRequest,
    TrialRequest,
    TrialStatus,
)
from trainer_api.settings import TrainerSettings, get_settings, is_production
from trainer_api.trials import TrialRegistry

CANCEL_WAIT_SECONDS = 3.0
TrialKey = Annotated[str, PathParam(pattern=KEY_PATTERN, description="the trial's key")]
ERRORS = {code: {"model": ErrorMessage} for code in (401, 404, 422)}

protected = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], responses={401: {"model": ErrorMessage}})
public = APIRouter(prefix="/v1")


@public.get("/health", response_model=Health)
def health(settings: SettingsDep, registry: RegistryDep) -> Health:
    """Device, library versions and training slots; needs no token (the launcher and /healthz poll it)."""
    files = registry.remote.transfer.where if registry.remote is not None else "shared folder"
    return Health(status="ok", **system.device_info(settings.device), **system.versions(),
                  slots_busy=registry.busy_slots(), slots_total=registry.max_trials, files=files)  # fmt: skip


@protected.get("/architectures", response_model=list[Architecture])
def architectures(settings: SettingsDep) -> list[Architecture]:
    """Every architecture a trial can use: minimum input size, parameter count, whether it can start pretrained."""
    weights = system.weights_sources(settings.weights_dir, settings.download_weights)
    return [Architecture(**item, **weights.get(item["name"], {})) for item in system.architectures()]


@protected.post(
    "/trials", response_model=TrialStatus, status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"model": TrialStatus, "description": "the key exists: nothing new was started"},
               429: {"model": ErrorMessage, "description": "every slot is busy; see Retry-After"}, **ERRORS},
)  # fmt: skip
def start_trial(body: TrialRequest, registry: RegistryDep, response: Response) -> TrialStatus:
    """Start a trial (202), or return the existing one with this key (200); an interrupted one resumes (202)."""
    trial, started = registry.start(
        body.key,
        body.dataset_path,
        body.config.model_dump(),
        dataset_id=body.dataset_id,
        dataset_hash=body.dataset_hash,
    )
    if not started:
        response.status_code = status.HTTP_200_OK
    return TrialStatus(**trial)


@protected.post(
    "/speed", response_model=SpeedReport,
    responses={429: {"model": ErrorMessage, "description": "a trial is training; see Retry-After"}, **ERRORS},
)  # fmt: skip
def speed(body: SpeedRequest, registry: RegistryDep) -> SpeedReport:
    """Images per second of one configuration's training and evaluation steps on random data (1-3 s).

    The platform sizes a trial's epochs to its time budget with it; answered from memory
    for a configuration timed before, refused (429) while the device is busy training.
    """
    return SpeedReport(**registry.measure_speed(body.config.model_dump(), body.num_classes))


@protected.get("/trials/{key}", response_model=TrialStatus, responses=ERRORS)
def trial_status(key: TrialKey, registry: RegistryDep) -> TrialStatus:
    """State, epochs done, error and result of one trial."""
    return TrialStatus(**registry.status(key))


# A stream has no response body model: each line is one TrialEvent, documented under `responses`.
@protected.get(
    "/trials/{key}/events", response_model=None, response_class=StreamingResponse,
    responses={200: {"description": "NDJSON, one TrialEvent a line",
                     "content": {"application/x-ndjson": {"schema": TRIAL_EVENT.json_schema()}}}, **ERRORS},
)  # fmt: skip
def trial_events(key: TrialKey, registry: RegistryDep, offset: Annotated[int, Query(ge=0)] = 0) -> StreamingResponse:
    """Events from `offset` until the `finished` one; `{"type": "heartbeat"}` lines every 10 s while idle."""
    registry.status(key)  # 404 before the stream starts
    return StreamingResponse(registry.follow(key, offset), media_type="application/x-ndjson")


@protected.delete("/trials/{key}", response_model=TrialStatus, responses=ERRORS)
async def cancel_trial(key: TrialKey, registry: RegistryDep) -> TrialStatus:
    """Cancel a trial (it stops within one batch); answers once it has stopped, or after 3 s."""
    await run_in_threadpool(registry.cancel, key)
    return TrialStatus(**await registry.wait_finished(key, CANCEL_WAIT_SECONDS))


@protected.delete("/caches/{content_hash}", responses=ERRORS)
def forget_dataset_cache(
    content_hash: Annotated[str, PathParam(pattern=r"^[0-9a-f]{8,128}$")], registry: RegistryDep
) -> dict[str, int]:
    """Remove the decoded images of the dataset with this content hash (its owner deleted it)."""
    return {"files_removed": registry.forget_cache(content_hash)}


@protected.post("/predict", response_model=PredictResponse, responses={400: {"model": ErrorMessage}, **ERRORS})
def predict(
    files: Annotated[list[UploadFile], File(description=f"one or more images (at most {MAX_FILES})")],
    model: Annotated[
        str, Form(max_length=1024, description="a model .pth / .safetensors path relative to TRAINER_DATA_DIR")
    ],
    cache: ModelCacheDep,
    top_k: Annotated[int, Form(ge=1, le=1000)] = 5,
) -> PredictResponse:
    """Top-k classes with probabilities for each image; an unreadable file gets its own error, not a failure."""
    uploads = [(upload.filename or f"file {i + 1}", upload.file) for i, upload in enumerate(files)]
    return PredictResponse(**predict_uploads(cache, model, uploads, top_k))


def create_app(settings: TrainerSettings | None = None) -> FastAPI:
    """The service for `settings` (default: from the environment), with its own trial registry and model cache."""
    settings = settings or get_settings()
    if is_production() and settings.token == DEFAULT_TOKEN:
        raise RuntimeError("Refusing to start in production with the default TRAINER_TOKEN: set TRAINER_TOKEN.")
    registry = TrialRegistry(
        data_dir=settings.data_dir, cache_dir=settings.cache_dir, device=settings.device,
        max_trials=settings.max_concurrent_trials, weights_dir=settings.weights_dir, datasets_dir=settings.datasets_dir,
        download_weights=settings.download_weights, remote=remote_files_from_settings(settings),
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(registry.shutdown)  # running trials stop within a batch and stay resumable

    app = FastAPI(title="Training service", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = registry
    app.state.model_cache = ModelCache(settings.data_dir)
    app.include_router(public)
    app.include_router(protected)
    app.add_exception_handler(TrainerError, error_response)
    return app


app = create_app()
