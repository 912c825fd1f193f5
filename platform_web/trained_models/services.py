"""Trained-model services: exports, evaluation, thumbnails, try-it and the model page's content.

The PyTorch work itself lives in the engine (`trainer_api.engine.export`,
`trainer_api.engine.evaluate`); here it is run once per model and cached next
to the artefact, under a file lock so two jobs never do it twice. The
evaluation and the exports are called from the Celery worker
(`worker.model_tasks` via `background.run_job`), never in a web request.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from platform_web.studies.models import Trial
from platform_web.trained_models import selectors
from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import (
    EXPORT_KINDS,
    FILE_KINDS,
    ModelFile,
    architecture_of,
    download_name,
    export_file,
    model_dir,
    model_files,
    model_path,
    read_exports,
    sha256_of,
    write_json_atomic,
)
from platform_web.trained_models.try_it import classify_uploads, try_it_limits

EVALUATION_FILE = "evaluation.json"
METADATA_FILE = "metadata.json"
THUMBS_DIR = "misclassified"
THUMB_SIZE = 160
GALLERY_LIMIT = 60
# Validation images the exports are checked on (the check must pass within this tolerance).
EXPORT_CHECK_IMAGES = 64
EXPORT_TOLERANCE = 1e-4

__all__ = [
    "classify_uploads",
    "evaluation_context",
    "evaluation_for",
    "export_model",
    "file_row",
    "misclassified_thumbnail",
    "model_metadata",
    "model_page_context",
    "snippet_text",
]


@contextmanager
def _file_lock(folder: Path, name: str) -> Iterator[None]:
    """An exclusive lock shared by every process that can see `folder` (web workers, threads)."""
    with (folder / f".{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dataset_dir(trial: Trial) -> Path:
    directory = Path(trial.study.dataset.directory)
    if not (directory / "manifest.json").is_file():
        raise ModelUnavailable(
            "The dataset this model was trained on has been deleted; the evaluation and the export checks "
            "need its validation images."
        )
    return directory


def model_metadata(trial: Trial) -> dict:
    """The metadata stored inside the trial's `.pth` (architecture, classes, input size, mean/std, ...).

    Read once with `torch.load(weights_only=True)` and cached as JSON beside the file.
    """
    path = model_path(trial)
    cache = path.parent / METADATA_FILE
    try:
        cached = json.loads(cache.read_text())
        if cached.get("model_sha256") == trial.model_sha256:
            return cached["metadata"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        pass
    from trainer_api.engine.errors import EngineError
    from trainer_api.engine.export import read_metadata

    try:
        metadata = read_metadata(path)
    except EngineError as e:
        raise ModelUnavailable(str(e)) from e
    write_json_atomic(cache, {"model_sha256": trial.model_sha256, "metadata": metadata})
    return metadata


def export_model(trial: Trial, kind: str) -> ModelFile:
    """Export the trial's model to TorchScript or ONNX once, check it, cache it next to the `.pth`.

    The export is compared with the `.pth` on validation images and only kept
    (offered for download) when every output agrees within EXPORT_TOLERANCE.
    """
    if kind not in EXPORT_KINDS:
        raise ModelUnavailable(f"{kind} is not an export format.")
    source = model_path(trial)
    model_metadata(trial)  # an unreadable file stops here with a message
    folder = source.parent
    with _file_lock(folder, f"export-{kind}"):
        existing = export_file(trial, kind)
        if existing.available:
            return existing
        from trainer_api.engine.errors import EngineError
        from trainer_api.engine.export import ExportCheckFailed, export_onnx, export_torchscript, validation_inputs

        target = folder / FILE_KINDS[kind].cached_name
        started = time.monotonic()
        try:
            inputs = validation_inputs(source, _dataset_dir(trial), limit=EXPORT_CHECK_IMAGES)
            exporter = export_onnx if kind == "onnx" else export_torchscript
            check = exporter(source, target, inputs, atol=EXPORT_TOLERANCE)
        except ExportCheckFailed as e:
            raise ModelUnavailable(f"The {FILE_KINDS[kind].label} export was not offered: {e}") from e
        except EngineError as e:
            raise ModelUnavailable(f"The {FILE_KINDS[kind].label} export failed: {e}") from e
        with _file_lock(folder, "exports-record"):  # the other format may be recording its export right now
            record = read_exports(folder)
            record[kind] = {
                "file": target.name,
                "sha256": sha256_of(target),
                "size_bytes": target.stat().st_size,
                "source_sha256": trial.model_sha256,
                "max_abs_diff": check.max_abs_diff,
                "max_prob_diff": check.max_prob_diff,
                "logit_scale": check.logit_scale,
                "checked_images": check.images,
                "checked_with": check.checked_with,
                "seconds": round(time.monotonic() - started, 2),
            }
            write_json_atomic(folder / "exports.json", record)
    return export_file(trial, kind)


def cached_evaluation(trial: Trial) -> dict | None:
    """The stored evaluation of this exact model file, or None when it has not been computed."""
    try:
        result = json.loads((model_dir(trial) / EVALUATION_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return result if result.get("model_sha256") == trial.model_sha256 else None


def evaluation_for(trial: Trial) -> dict:
    """Per-class accuracy, confusion matrix and misclassified images on the validation split.

    Computed once per model file (keyed by its SHA-256) and stored as JSON beside it.
    """
    result = cached_evaluation(trial)
    if result is not None:
        return result
    model_metadata(trial)  # an unreadable file stops here with a message
    folder = model_dir(trial)
    with _file_lock(folder, "evaluation"):
        result = cached_evaluation(trial)
        if result is not None:
            return result
        from trainer_api.engine.errors import EngineError
        from trainer_api.engine.evaluate import evaluate_model

        try:
            result = evaluate_model(model_path(trial), _dataset_dir(trial))
        except EngineError as e:
            raise ModelUnavailable(f"The model could not be evaluated: {e}") from e
        result["model_sha256"] = trial.model_sha256
        write_json_atomic(folder / EVALUATION_FILE, result)
    return result


def evaluation_context(trial: Trial, result: dict) -> dict:
    """What the evaluation section shows: per-class rows, the matrix with shades, the gallery."""
    classes = result["class_names"]
    matrix = result["confusion_matrix"]
    peak = max((v for row in matrix for v in row), default=0) or 1
    rows = []
    for i, name in enumerate(classes):
        total = sum(matrix[i])
        cells = [{"count": v, "alpha": round(v / peak, 3), "diagonal": i == j} for j, v in enumerate(matrix[i])]
        rows.append({"name": name, "cells": cells, "total": total})
    base = reverse("trained_models:misclassified_image", args=[trial.study_id, trial.number, 0])[: -len("0.jpg")]
    gallery = [
        {**item, "index": index, "url": f"{base}{index}.jpg"}
        for index, item in enumerate(result["misclassified"][:GALLERY_LIMIT])
    ]
    return {
        "trial": trial,
        "evaluation": result,
        "per_class": result["per_class"],
        "matrix_rows": rows,
        "class_names": classes,
        "gallery": gallery,
        "gallery_hidden": max(0, len(result["misclassified"]) - GALLERY_LIMIT),
    }


def misclassified_thumbnail(trial: Trial, index: int) -> Path:
    """A small JPEG of the `index`-th misclassified validation image, made once and cached."""
    result = cached_evaluation(trial)
    if result is None or not 0 <= index < len(result["misclassified"]):
        raise ModelUnavailable("No such misclassified image.")
    # keyed by the model's checksum: another model file means other mistakes at the same index
    folder = model_dir(trial) / f"{THUMBS_DIR}-{(trial.model_sha256 or 'model')[:12]}"
    target = folder / f"{index}.jpg"
    if target.is_file():
        return target
    dataset_dir = _dataset_dir(trial).resolve()
    source = (dataset_dir / result["misclassified"][index]["path"]).resolve()
    if not source.is_relative_to(dataset_dir) or not source.is_file():
        raise ModelUnavailable("The image is no longer in the dataset.")
    from trainer_api.engine.images import UnreadableImage, open_rgb

    try:
        image = open_rgb(source)
    except UnreadableImage as e:
        raise ModelUnavailable(f"The image cannot be read: {e}") from e
    image.thumbnail((THUMB_SIZE, THUMB_SIZE))
    folder.mkdir(exist_ok=True)
    tmp = folder / f".{index}.jpg.tmp"
    image.save(tmp, "JPEG", quality=85)
    tmp.replace(target)
    return target


def snippet_text(trial: Trial) -> str:
    """The engine's self-contained classify script, naming the file the user downloads from this page.

    The script imports only torch, torchvision and Pillow (see `trainer_api.engine.snippet_source`).
    """
    from trainer_api.engine import snippet_source

    return snippet_source().replace("model.pth", download_name(trial, "pth"))


def snippet_filename() -> str:
    """The name the snippet's own usage text gives it."""
    from trainer_api.engine import SNIPPET_FILENAME

    return SNIPPET_FILENAME


def file_row(trial: Trial, entry: ModelFile) -> dict:
    """One row of the model page's file table: the file, its download link, and where to export it."""
    kind = entry.kind.kind
    return {
        "entry": entry,
        "url": reverse("trained_models:download", args=[trial.study_id, trial.number, kind]),
        "export_url": reverse("trained_models:export", args=[trial.study_id, trial.number, kind])
        if kind in EXPORT_KINDS
        else None,
    }


def model_page_context(trial: Trial) -> dict:
    """Everything the model page shows about one trial."""
    context: dict = {
        "trial": trial,
        "study": trial.study,
        "dataset": trial.study.dataset,
        "architecture": architecture_of(trial),
        "epochs": selectors.epoch_series(trial),
        "is_best": trial.study.best_trial_id == trial.pk,
        "unavailable": None,
    }
    try:
        model_path(trial)
        context["metadata"] = model_metadata(trial)
    except ModelUnavailable as e:
        context["unavailable"] = str(e)
        return context
    metadata = context["metadata"]
    files = model_files(trial)
    context.update(
        {
            "files": [file_row(trial, f) for f in files],
            "hyperparameters": sorted((metadata.get("hyperparameters") or trial.params or {}).items()),
            "evaluation_url": reverse("trained_models:evaluation", args=[trial.study_id, trial.number]),
            "predict_url": reverse("trained_models:predict", args=[trial.study_id, trial.number]),
            "snippet": snippet_text(trial),
            "snippet_filename": snippet_filename(),
            "try_it": try_it_limits(),
            "trainer_data_dir": settings.TRAINER_DATA_DIR,
        }
    )
    cached = cached_evaluation(trial)
    if cached is not None:
        context.update(evaluation_context(trial, cached))
    return context
