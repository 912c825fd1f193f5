"""Try it: send uploaded images to the inference service's `/v1/predict` and shape its answer.

The inference service (`INFERENCE_URL`, a process apart from the training service, so a
prediction never waits behind a trial) keeps recently used models loaded (an LRU cache)
and the best model of each recent study loaded before anyone asks, so a second batch of
images on the same model page does not reload the weights.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

from platform_web.studies.models import Trial
from platform_web.studies.trainer_client import TrainerClient, TrainerError, TrainerUnavailable
from platform_web.trained_models.errors import ModelUnavailable, NotImages, TrainerDown, TryItError
from platform_web.trained_models.files import model_path
from trainer_api.schemas import PredictResponse

TOP_K = 5
ACCEPTED_FORMATS = "JPEG, PNG, WebP, GIF, BMP or TIFF"
NAMES_IN_MESSAGE = 5


def try_it_limits() -> dict:
    """The upload limits the page tells the user about (settings can override them)."""
    return {
        "max_files": int(getattr(settings, "TRY_IT_MAX_FILES", 20)),
        "max_bytes": int(getattr(settings, "TRY_IT_MAX_BYTES", 10 * 1024**2)),
    }


def _size(size: int) -> str:
    """A file size the way the page words it: "3.2 MB", "540 KB"."""
    return f"{size / 1024**2:.1f} MB" if size >= 1024**2 else f"{max(1, round(size / 1024))} KB"


def is_image(upload: UploadedFile) -> bool:
    """Whether Pillow recognises the file as an image from its first bytes (nothing is decoded here).

    A text file, a PDF or a zip is not one. A recognised image that is truncated, damaged or
    too large to decode counts as an image: the inference service decodes it and says what is wrong.
    """
    upload.seek(0)
    try:
        with Image.open(upload):
            return True
    except UnidentifiedImageError:
        return False
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return True
    finally:
        upload.seek(0)


def not_an_image(name: str) -> dict:
    """The answer for one uploaded file that is not an image (it is not sent to the inference service)."""
    return {
        "filename": name,
        "predictions": None,
        "error": f"Not a readable image: {name} is not an image file. Choose {ACCEPTED_FORMATS} images.",
        "not_image": True,
    }


def _not_images_message(names: list[str]) -> str:
    if len(names) == 1:
        return f"{names[0]} is not an image: choose {ACCEPTED_FORMATS} files to classify."
    shown = ", ".join(names[:NAMES_IN_MESSAGE]) + (", …" if len(names) > NAMES_IN_MESSAGE else "")
    return f"None of the {len(names)} files is an image ({shown}): choose {ACCEPTED_FORMATS} files to classify."


def upload_problem(upload: UploadedFile, max_bytes: int) -> dict | None:
    """The answer for a file that is not sent to the inference service (too large, empty, not an image), else None."""
    if upload.size > max_bytes:
        return {
            "filename": upload.name,
            "predictions": None,
            "error": f"{_size(upload.size)} is too large; images up to {_size(max_bytes)} can be tried.",
        }
    if upload.size == 0:
        return {"filename": upload.name, "predictions": None, "error": "The file is empty."}
    if not is_image(upload):
        return not_an_image(upload.name)
    return None


def _service_predict(model: str, files: list[UploadedFile], top_k: int) -> PredictResponse:
    """Ask the inference service; its errors become TryItError with a message to act on."""
    parts = []
    for upload in files:
        upload.seek(0)
        parts.append((upload.name, upload, upload.content_type or "application/octet-stream"))
    try:
        return TrainerClient(base_url=settings.INFERENCE_URL).predict(model, parts, top_k=top_k)
    except TrainerUnavailable as e:
        raise TrainerDown("The inference service is not answering; try again in a minute.") from e
    except TrainerError as e:
        raise TryItError(f"The inference service could not classify the images: {e}") from e


def classify_uploads(trial: Trial, uploads: list[UploadedFile], top_k: int = TOP_K) -> list[dict]:
    """Top-k (try-it: 5) classes with probabilities for every uploaded image, or a message per file that cannot be used.

    Each result is `{"filename", "predictions": [{"class", "probability"}], "error"}`,
    in upload order. Oversized and empty files are refused here, and so are files
    that are not images at all (`"not_image": True`, never sent to the inference service);
    when every file is one of those, NotImages refuses the whole request, naming them.
    Damaged images are reported by the inference service, which decodes them.
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
        results[index] = upload_problem(upload, limits["max_bytes"])
        if results[index] is None:
            to_send.append((index, upload))
    refused = [r for r in results if r is not None and r.get("not_image")]
    if refused and len(refused) == len(uploads):
        raise NotImages(_not_images_message([r["filename"] for r in refused]), refused)
    if to_send:
        answered = _service_predict(trial.model_path, [upload for _, upload in to_send], top_k).results
        if len(answered) != len(to_send):
            raise ModelUnavailable("The inference service answered for a different number of images; try again.")
        for (index, upload), item in zip(to_send, answered, strict=True):
            error = item.error
            predictions = [{"class": p.class_name, "probability": p.probability} for p in item.predictions or []]
            results[index] = {
                "filename": upload.name,
                "predictions": None if error else predictions,
                "error": (error[:1].upper() + error[1:]) if error else None,
            }
    return [r for r in results if r is not None]
