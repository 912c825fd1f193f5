"""Try it: send uploaded images to the training service's `/v1/predict` and shape its answer.

The training service keeps recently used models loaded (an LRU cache), so a
second batch of images on the same model page does not reload the weights.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from platform_web.studies.models import Trial
from platform_web.studies.trainer_client import TrainerClient, TrainerError, TrainerUnavailable
from platform_web.trained_models.errors import ModelUnavailable, TryItError
from platform_web.trained_models.files import model_path
from trainer_api.schemas import PredictResponse

TOP_K = 5


def try_it_limits() -> dict:
    """The upload limits the page tells the user about (settings can override them)."""
    return {
        "max_files": int(getattr(settings, "TRY_IT_MAX_FILES", 20)),
        "max_bytes": int(getattr(settings, "TRY_IT_MAX_BYTES", 10 * 1024**2)),
    }


def _size(size: int) -> str:
    """A file size the way the page words it: "3.2 MB", "540 KB"."""
    return f"{size / 1024**2:.1f} MB" if size >= 1024**2 else f"{max(1, round(size / 1024))} KB"


def _trainer_predict(model: str, files: list[UploadedFile]) -> PredictResponse:
    """Ask the training service; its errors become TryItError with a message to act on."""
    parts = []
    for upload in files:
        upload.seek(0)
        parts.append((upload.name, upload, upload.content_type or "application/octet-stream"))
    try:
        return TrainerClient().predict(model, parts, top_k=TOP_K)
    except TrainerUnavailable as e:
        raise TryItError("The training service is not answering; try again in a minute.") from e
    except TrainerError as e:
        raise TryItError(f"The training service could not classify the images: {e}") from e


def classify_uploads(trial: Trial, uploads: list[UploadedFile]) -> list[dict]:
    """Top-5 classes with probabilities for every uploaded image, or a message per file that cannot be used.

    Each result is `{"filename", "predictions": [{"class", "probability"}], "error"}`,
    in upload order. Oversized and empty files are refused here; corrupt and
    non-image files are reported by the training service, which decodes them.
    """
    model_path(trial)  # the .pth must exist before the service is asked
    limits = try_it_limits()
    if not uploads:
        raise TryItError("Choose one or more image files to classify.")
    if len(uploads) > limits["max_files"]:
        raise TryItError(f"{len(uploads)} files chosen; try at most {limits['max_files']} at a time.")
    results: list[dict | None] = [None] * len(uploads)
    to_send: list[tuple[int, UploadedFile]] = []
    for index, upload in enumerate(uploads):
        if upload.size > limits["max_bytes"]:
            results[index] = {
                "filename": upload.name,
                "predictions": None,
                "error": f"{_size(upload.size)} is too large; images up to {_size(limits['max_bytes'])} can be tried.",
            }
        elif upload.size == 0:
            results[index] = {"filename": upload.name, "predictions": None, "error": "The file is empty."}
        else:
            to_send.append((index, upload))
    if to_send:
        answered = _trainer_predict(trial.model_path, [upload for _, upload in to_send]).results
        if len(answered) != len(to_send):
            raise ModelUnavailable("The training service answered for a different number of images; try again.")
        for (index, upload), item in zip(to_send, answered, strict=True):
            error = item.error
            predictions = [{"class": p.class_name, "probability": p.probability} for p in item.predictions or []]
            results[index] = {
                "filename": upload.name,
                "predictions": None if error else predictions,
                "error": (error[:1].upper() + error[1:]) if error else None,
            }
    return [r for r in results if r is not None]
