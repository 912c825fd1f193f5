"""The prediction API: a user's application posts images with an API token and gets each one's top-k classes.

It goes the way try-it goes (`try_it.classify_uploads` → the inference service's
`/v1/predict`, same limits, same checks), with the stricter rule an API wants: every
file must be an image the model can classify, or the whole request is refused, naming
the files that are not.
"""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.http import Http404

from platform_web.trained_models import selectors
from platform_web.trained_models.errors import ModelUnavailable, NotImages, TryItError
from platform_web.trained_models.files import model_path
from platform_web.trained_models.try_it import ACCEPTED_FORMATS, classify_uploads, try_it_limits, upload_problem

DEFAULT_TOP_K = 3
FIELD = "image"


def parse_top_k(value: str | None, class_count: int) -> int:
    """The `top_k` form field: 3 when absent, at least 1, at most the model's number of classes."""
    if value is None or not value.strip():
        top_k = DEFAULT_TOP_K
    else:
        try:
            top_k = int(value)
        except ValueError as e:
            raise TryItError(f"top_k must be a whole number of at least 1, got {value[:20]!r}.") from e
        if top_k < 1:
            raise TryItError(f"top_k must be at least 1, got {top_k}.")
    return min(top_k, class_count) if class_count > 0 else top_k


def _refused(problems: list[dict]) -> NotImages:
    """One 400 for every file that cannot be classified, naming each with its reason."""
    if len(problems) == 1:
        message = f"{problems[0]['filename']} cannot be classified: {problems[0]['error']}"
    else:
        names = ", ".join(p["filename"] for p in problems)
        message = f"{len(problems)} files cannot be classified ({names}): send only {ACCEPTED_FORMATS} images."
    return NotImages(message, [{"filename": p["filename"], "error": p["error"]} for p in problems])


def predict_for_api(*, owner, study_id, number: int, uploads: list[UploadedFile], top_k: str | None) -> dict:
    """Top-k classes with probabilities for each uploaded image under the owner's trial's model.

    ModelUnavailable when the trial is not the owner's or has no model (the API says 404);
    NotImages naming the files that are not classifiable images, TryItError for a request
    that cannot be used (both 400); TrainerDown when the inference service does not answer.
    """
    try:
        trial = selectors.get_owned_trial(owner, study_id, number)
    except Http404 as e:
        raise ModelUnavailable("No such model: no trial with this study id and number is yours.") from e
    model_path(trial)
    classes = list(trial.study.dataset.classes or [])
    k = parse_top_k(top_k, len(classes))
    if not uploads:
        raise TryItError(f"Send one or more images, each in a multipart form field named '{FIELD}'.")
    max_bytes = try_it_limits()["max_bytes"]
    problems = [problem for upload in uploads if (problem := upload_problem(upload, max_bytes))]
    if problems:
        raise _refused(problems)
    results = classify_uploads(trial, uploads, top_k=k)
    failed = [result for result in results if result["error"]]
    if failed:  # recognised as images here, but damaged: the inference service could not decode them
        raise _refused(failed)
    return {
        "study": str(trial.study_id),
        "trial": trial.number,
        "classes": classes,
        "top_k": k,
        "results": [{"filename": r["filename"], "predictions": r["predictions"]} for r in results],
    }
