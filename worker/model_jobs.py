"""The model page's jobs, run by the worker's `models.evaluate` and `models.export` tasks.

Each computes once per model file and caches its result next to it, under a file
lock, so a job delivered twice does the work once; `run_job` keeps the markers the
page reads (`platform_web/trained_models/background.py`) up to date.
"""

from __future__ import annotations

import time

from platform_web.studies.models import Trial
from platform_web.trained_models import background, files, services
from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import (
    EXPORT_KINDS,
    FILE_KINDS,
    export_file,
    model_path,
    write_json_atomic,
)
from trainer_api.engine.errors import EngineError
from trainer_api.engine.evaluate import evaluate_model
from trainer_api.engine.export import ExportCheckFailed, export_onnx, export_torchscript, validation_inputs
from worker import int8_export
from worker.export_record import record_export

# Validation images the exports are checked on (the check must pass within this tolerance).
EXPORT_CHECK_IMAGES = 64
EXPORT_TOLERANCE = 1e-4


def run_job(trial_id: int, kind: str) -> str:
    """The worker's side: compute and cache the result, or record why not. Returns the outcome in a word."""
    background.check_kind(kind)
    trial = Trial.objects.select_related("study", "study__dataset").filter(pk=trial_id).first()
    if trial is None:
        return "gone"
    try:
        folder = files.model_dir(trial)
    except ModelUnavailable:
        return "no model"
    write_json_atomic(background.job_path(folder, kind), {"state": "running", "since": time.time()})
    background.error_path(folder, kind).unlink(missing_ok=True)
    try:
        if kind == background.EVALUATION:
            evaluation_for(trial)
        else:
            export_model(trial, kind)
    except ModelUnavailable as e:
        background.record_failure(trial, kind, str(e))
        return "failed"
    except Exception as e:
        background.record_failure(trial, kind, f"The work stopped on an internal error ({e!r}). Try again; if it fails again, the worker's log says more.")  # fmt: skip
        raise
    finally:
        background.job_path(folder, kind).unlink(missing_ok=True)
    return "ready"


def export_model(trial: Trial, kind: str) -> files.ModelFile:
    """Export the trial's model to TorchScript, ONNX or ONNX INT8 once, check it, cache it next to the `.pth`.

    The export is compared with the `.pth` on validation images and only kept
    (offered for download) when every output agrees within EXPORT_TOLERANCE. INT8 is
    made from the checked ONNX export and judged by its accuracy instead (`int8_export.py`).
    """
    if kind not in EXPORT_KINDS:
        raise ModelUnavailable(f"{kind} is not an export format.")
    if kind == int8_export.KIND:
        existing = export_file(trial, kind)
        return existing if existing.available else int8_export.export_int8(trial, export_model(trial, "onnx"))
    source = model_path(trial)
    services.model_metadata(trial)  # an unreadable file stops here with a message
    folder = source.parent
    with services.file_lock(folder, f"export-{kind}"):
        existing = export_file(trial, kind)
        if existing.available:
            return existing
        target = folder / FILE_KINDS[kind].cached_name
        started = time.monotonic()
        try:
            inputs = validation_inputs(source, services.dataset_dir_of(trial), limit=EXPORT_CHECK_IMAGES)
            exporter = export_onnx if kind == "onnx" else export_torchscript
            check = exporter(source, target, inputs, atol=EXPORT_TOLERANCE)
        except ExportCheckFailed as e:
            raise ModelUnavailable(f"The {FILE_KINDS[kind].label} export was not offered: {e}") from e
        except EngineError as e:
            raise ModelUnavailable(f"The {FILE_KINDS[kind].label} export failed: {e}") from e
        record_export(trial, kind, target, {
            "max_abs_diff": check.max_abs_diff,
            "max_prob_diff": check.max_prob_diff,
            "logit_scale": check.logit_scale,
            "checked_images": check.images,
            "checked_with": check.checked_with,
            "seconds": round(time.monotonic() - started, 2),
        })  # fmt: skip
    return export_file(trial, kind)


def evaluation_for(trial: Trial) -> dict:
    """Per-class accuracy, confusion matrix and misclassified images on the validation split.

    Computed once per model file (keyed by its SHA-256) and stored as JSON beside it.
    """
    result = services.cached_evaluation(trial)
    if result is not None:
        return result
    services.model_metadata(trial)  # an unreadable file stops here with a message
    folder = files.model_dir(trial)
    with services.file_lock(folder, "evaluation"):
        result = services.cached_evaluation(trial)
        if result is not None:
            return result
        try:
            result = evaluate_model(model_path(trial), services.dataset_dir_of(trial))
        except EngineError as e:
            raise ModelUnavailable(f"The model could not be evaluated: {e}") from e
        result["model_sha256"] = trial.model_sha256
        write_json_atomic(folder / services.EVALUATION_FILE, result)
    return result
