"""Reading datasets for pages: always through the owner, so another user's dataset is a 404."""

from __future__ import annotations

import re
from pathlib import Path

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse

from platform_web.datasets.models import Dataset

# Class thumbnails `<label>_<n>.jpg`, duplicate thumbnails `d<group>_<n>.jpg`.
_THUMBNAIL_NAME = re.compile(r"^d?\d+_\d+\.jpg$")
# Above this many warnings the page folds the list away.
WARNINGS_SHOWN_OPEN = 8


def datasets_of(user) -> QuerySet[Dataset]:
    """The user's datasets, newest first."""
    return Dataset.objects.filter(owner=user).order_by("-created_at")


def dataset_of(user, dataset_id) -> Dataset:
    """The user's dataset, or Http404 (also when it belongs to someone else)."""
    return get_object_or_404(Dataset, pk=dataset_id, owner=user)


def status_payload(dataset: Dataset) -> dict:
    """What status.json answers: status, progress 0..1 and a message (the error once failed)."""
    message = dataset.error if dataset.status == Dataset.Status.FAILED else dataset.progress_message
    if dataset.status == Dataset.Status.READY:
        message = f"{dataset.image_count:,} images in {len(dataset.classes)} classes"
    return {
        "id": str(dataset.id),
        "status": dataset.status,
        "status_label": dataset.get_status_display(),
        "progress": round(float(dataset.progress), 4),
        "message": message,
        "url": reverse("datasets:detail", args=[dataset.id]),
    }


def class_chart(dataset: Dataset) -> dict:
    """Chart.js data for images per class, train and validation stacked."""
    counts = dataset.class_counts or {}
    classes = dataset.classes or []
    return {
        "labels": classes,
        "train": [counts.get(name, {}).get("train", 0) for name in classes],
        "val": [counts.get(name, {}).get("val", 0) for name in classes],
    }


def thumbnail_groups(dataset: Dataset) -> list[dict]:
    """Per class: its name, image counts and thumbnail URLs."""
    counts = dataset.class_counts or {}
    groups = []
    for name in dataset.classes or []:
        files = (dataset.thumbnails or {}).get(name, [])
        groups.append(
            {
                "name": name,
                "train": counts.get(name, {}).get("train", 0),
                "val": counts.get(name, {}).get("val", 0),
                "urls": [reverse("datasets:thumbnail", args=[dataset.id, f]) for f in files],
            }
        )
    return groups


def duplicate_findings(dataset: Dataset) -> dict | None:
    """The duplicates found at ingestion, with thumbnail URLs; None for a dataset ingested before the check.

    `leak` is the page's warning when validation images also appear in training: how many,
    and by how many points the validation accuracy may read high (one point per percent of
    validation images the model may have seen in training).
    """
    found = dataset.duplicates or {}
    if "listed" not in found:
        return None
    listed = []
    for group in found["listed"]:
        members = [
            m | {"url": reverse("datasets:thumbnail", args=[dataset.id, m["thumb"]]) if m.get("thumb") else ""}
            for m in group["members"]
        ]
        listed.append(group | {"members": members, "more": group["size"] - len(members)})
    leak = None
    if found["leaked_val"]:
        leak = {"count": found["leaked_val"], "of": found["val_count"], "percent": found["leak_percent"]}
    return found | {"listed": listed, "leak": leak}


def thumbnail_path(dataset: Dataset, name: str) -> Path:
    """The file of one thumbnail of a ready dataset, or Http404."""
    if dataset.status != Dataset.Status.READY or not _THUMBNAIL_NAME.match(name):
        raise Http404("No such thumbnail")
    path = dataset.directory / "thumbs" / name
    if not path.is_file():
        raise Http404("No such thumbnail")
    return path
