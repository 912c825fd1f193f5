"""Evaluating a trained `.pth` on its dataset's validation split: confusion matrix, per-class accuracy, mistakes.

Images are read from the dataset's files and prepared exactly as `predict` (and
the user snippet) prepare them, so what the model page shows is what a user of
the downloaded file gets.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from .artefact import load_model
from .errors import DatasetError
from .images import UnreadableImage, open_rgb
from .inference import prepare_images
from .manifest import read_manifest


@torch.inference_mode()
def evaluate_model(
    model_path: str | Path, dataset_dir: str | Path, *, batch_size: int = 64, device: str = "cpu"
) -> dict[str, Any]:
    """Classify every validation image of `dataset_dir` with the model in `model_path`.

    Returns a JSON-ready dict: `class_names`, `val_count` (images evaluated),
    `correct`, `accuracy`, `confusion_matrix` (rows = true class, columns =
    predicted, in class index order), `per_class` (`class`, `correct`, `total`,
    `accuracy`), `misclassified` (`path` relative to the dataset folder, `true`,
    `predicted`, `confidence`; most confident mistakes first), `paths`, `labels`,
    `predicted`, `confidences` (one entry per evaluated image, manifest order),
    `skipped` (files that could no longer be read) and `seconds`.
    """
    started = time.perf_counter()
    model, metadata = load_model(model_path, device=device)
    manifest = read_manifest(dataset_dir)
    names = list(metadata["class_names"])
    if manifest.classes != names:
        raise DatasetError(
            f"The dataset's classes ({', '.join(manifest.classes)}) are not the model's ({', '.join(names)})"
        )
    root = manifest.root.resolve()
    items = [
        (p, label) for p, label, s in zip(manifest.paths, manifest.labels, manifest.splits, strict=True) if s == "val"
    ]
    paths: list[str] = []
    labels: list[int] = []
    predicted: list[int] = []
    confidences: list[float] = []
    skipped: list[dict[str, str]] = []
    for start in range(0, len(items), batch_size):
        images, chunk = [], []
        for path, label in items[start : start + batch_size]:
            relative = str(Path(path).resolve().relative_to(root))
            try:
                images.append(open_rgb(path))
            except UnreadableImage as e:
                skipped.append({"path": relative, "reason": str(e)})
                continue
            chunk.append((relative, label))
        if not images:
            continue
        probabilities = torch.softmax(model(prepare_images(images, metadata).to(device)).float(), dim=1).cpu()
        confidence, index = probabilities.max(dim=1)
        for (relative, label), p, i in zip(chunk, confidence.tolist(), index.tolist(), strict=True):
            paths.append(relative)
            labels.append(label)
            predicted.append(i)
            confidences.append(round(p, 6))
    if not paths:
        raise DatasetError("No validation image could be read to evaluate the model on.")
    return _summarise(names, paths, labels, predicted, confidences, skipped, time.perf_counter() - started)


def _summarise(names, paths, labels, predicted, confidences, skipped, seconds: float) -> dict[str, Any]:
    n = len(names)
    matrix = [[0] * n for _ in range(n)]
    for truth, guess in zip(labels, predicted, strict=True):
        matrix[truth][guess] += 1
    per_class = []
    for i, name in enumerate(names):
        total = sum(matrix[i])
        per_class.append(
            {
                "class": name,
                "correct": matrix[i][i],
                "total": total,
                "accuracy": matrix[i][i] / total if total else None,
            }
        )
    mistakes = [
        {"path": path, "true": names[truth], "predicted": names[guess], "confidence": confidence}
        for path, truth, guess, confidence in zip(paths, labels, predicted, confidences, strict=True)
        if truth != guess
    ]
    mistakes.sort(key=lambda m: -m["confidence"])
    correct = sum(matrix[i][i] for i in range(n))
    return {
        "class_names": names,
        "val_count": len(paths),
        "correct": correct,
        "accuracy": correct / len(paths),
        "confusion_matrix": matrix,
        "per_class": per_class,
        "misclassified": mistakes,
        "paths": paths,
        "labels": labels,
        "predicted": predicted,
        "confidences": confidences,
        "skipped": skipped,
        "seconds": round(seconds, 3),
    }
