"""Trained-model services: the model page's content, cached evaluations, thumbnails, try-it, the snippet.

The evaluation and the exports are computed by the worker (`worker/model_jobs.py`),
once per model file, and cached next to it; this module reads what they left.
Nothing here loads torch: the web process never does (`tests/test_web_loads_no_torch.py`).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from platform_web.studies.models import Trial
from platform_web.trained_models import metrics, selectors
from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import (
    EXPORT_KINDS,
    INT8_MAX_ACCURACY_DROP,
    ModelFile,
    architecture_of,
    download_name,
    model_dir,
    model_files,
    model_path,
    trainer_file,
    write_json_atomic,
)
from platform_web.trained_models.try_it import classify_uploads, try_it_limits
from trainer_api.engine.errors import EngineError
from trainer_api.engine.images import UnreadableImage, open_rgb
from trainer_api.engine.model_header import check_pth_archive, read_header_metadata
from trainer_api.engine.snippet_text import SNIPPET_FILENAME, snippet_source

EVALUATION_FILE = "evaluation.json"
METADATA_FILE = "metadata.json"
THUMBS_DIR = "misclassified"
THUMB_SIZE = 160
GALLERY_LIMIT = 60

__all__ = [
    "classify_uploads",
    "evaluation_context",
    "file_row",
    "misclassified_thumbnail",
    "model_metadata",
    "model_page_context",
    "snippet_text",
]


@contextmanager
def file_lock(folder: Path, name: str) -> Iterator[None]:
    """An exclusive lock shared by every process that can see `folder` (web workers, threads)."""
    with (folder / f".{name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def dataset_dir_of(trial: Trial) -> Path:
    """The ready dataset the trial was trained on, or ModelUnavailable saying it was deleted."""
    directory = Path(trial.study.dataset.directory)
    if not (directory / "manifest.json").is_file():
        raise ModelUnavailable(
            "The dataset this model was trained on has been deleted; the evaluation and the export checks "
            "need its validation images."
        )
    return directory


def model_metadata(trial: Trial) -> dict:
    """The metadata the engine stored with the trial's model (architecture, classes, input size, mean/std, ...).

    Read without torch from the header of its `.safetensors` (the `.pth` is checked to be a
    PyTorch archive) and cached as JSON beside the file.
    """
    path = model_path(trial)
    cache = path.parent / METADATA_FILE
    try:
        cached = json.loads(cache.read_text())
        if cached.get("model_sha256") == trial.model_sha256:
            return cached["metadata"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        pass
    weights = trainer_file(trial, "safetensors")
    try:
        check_pth_archive(path)
        if not weights.available:
            raise ModelUnavailable("The model's .safetensors file is missing, so its metadata cannot be read.")
        metadata = read_header_metadata(weights.path)
    except EngineError as e:
        raise ModelUnavailable(str(e)) from e
    write_json_atomic(cache, {"model_sha256": trial.model_sha256, "metadata": metadata})
    return metadata


def cached_evaluation(trial: Trial) -> dict | None:
    """The stored evaluation of this exact model file, or None when it has not been computed."""
    try:
        result = json.loads((model_dir(trial) / EVALUATION_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return result if result.get("model_sha256") == trial.model_sha256 else None


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
        "balanced_accuracy": metrics.balanced_accuracy(matrix),
        "macro_f1": metrics.macro_f1(matrix),
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
    dataset_dir = dataset_dir_of(trial).resolve()
    source = (dataset_dir / result["misclassified"][index]["path"]).resolve()
    if not source.is_relative_to(dataset_dir) or not source.is_file():
        raise ModelUnavailable("The image is no longer in the dataset.")
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
    return snippet_source().replace("model.pth", download_name(trial, "pth"))


def snippet_filename() -> str:
    """The name the snippet's own usage text gives it."""
    return SNIPPET_FILENAME


def file_row(trial: Trial, entry: ModelFile) -> dict:
    """One row of the model page's file table: the file, its download link, and where to export it."""
    kind = entry.kind.kind
    return {
        "entry": entry,
        "int8_tolerance_points": INT8_MAX_ACCURACY_DROP * 100,
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
