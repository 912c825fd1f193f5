"""The training service's domain errors, each with the HTTP status it becomes at the edge (app.py)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

# Both services refuse to start in production with it.
DEFAULT_TOKEN = "dev-trainer-token"


class TrainerError(Exception):
    """A request the service cannot honour; the message tells the caller what to change."""

    status_code = 400


class InvalidTrial(TrainerError):
    """The trial request is well-formed JSON but cannot be trained (architecture, input size, config)."""

    status_code = 422


class DatasetNotFound(TrainerError):
    """The dataset folder or its manifest.json is missing or unreadable."""

    status_code = 422


class UnknownTrial(TrainerError):
    """No trial with this key on this service."""

    status_code = 404


class SlotsBusy(TrainerError):
    """Every training slot is taken; the caller should retry after `retry_after` seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadModelPath(TrainerError):
    """The model path is absolute, escapes the data folder, or is not a .pth file."""

    status_code = 400


class ModelNotFound(TrainerError):
    """No model file at that path, or it cannot be loaded."""

    status_code = 404


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """A TrainerError as JSON `{"detail"}` with its status (and Retry-After for SlotsBusy)."""
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, SlotsBusy) else None
    code = exc.status_code if isinstance(exc, TrainerError) else 500
    return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)
