"""Live ingestion progress: the dataset page's WebSocket gets the same status the polling endpoint serves.

Ingestion calls `publish_dataset_progress(dataset)` whenever it saves progress
or a final status. The database row stays the source of truth: a page that
connects (or reconnects) first gets the row as it is now, then every update.
"""

from __future__ import annotations

import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from platform_web.datasets.models import Dataset

log = logging.getLogger(__name__)

# Progress updates closer together than this (same status, under 1% apart) are not sent.
MIN_INTERVAL_SECONDS = 0.25
_last_sent: dict[str, tuple[float, str, float]] = {}


def dataset_group(dataset_id) -> str:
    """Channel group name of one dataset's page."""
    return f"dataset-{dataset_id}"


def dataset_status(dataset: Dataset) -> dict:
    """The dataset's ingestion state as the page shows it."""
    return {
        "type": "dataset",
        "id": str(dataset.id),
        "status": dataset.status,
        "status_label": dataset.get_status_display(),
        "progress": round(float(dataset.progress), 4),
        "error": dataset.error,
        "image_count": dataset.image_count,
        "train_count": dataset.train_count,
        "val_count": dataset.val_count,
        "class_count": len(dataset.classes or []),
        "warning_count": len(dataset.warnings or []),
        "updated_at": dataset.updated_at.isoformat() if dataset.updated_at else None,
    }


def owned_dataset(user, dataset_id) -> Dataset | None:
    """The dataset if `user` owns it, else None (anonymous users own nothing)."""
    if user is None or not user.is_authenticated:
        return None
    return Dataset.objects.filter(pk=dataset_id, owner=user).first()


def publish_dataset_progress(dataset: Dataset) -> None:
    """Send the dataset's current status to its page; never raises (the page also polls the row).

    Call it after saving progress or a final status. Bursts of small progress
    steps are thinned out; a status change always goes out.
    """
    key = str(dataset.id)
    now = time.monotonic()
    previous = _last_sent.get(key)
    if previous and previous[1] == dataset.status and dataset.status in (Dataset.Status.PENDING,
                                                                         Dataset.Status.PROCESSING):  # fmt: skip
        if now - previous[0] < MIN_INTERVAL_SECONDS and abs(dataset.progress - previous[2]) < 0.01:
            return
    _last_sent[key] = (now, dataset.status, dataset.progress)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(dataset_group(dataset.id), {"type": "dataset.progress",
                                                                     "status": dataset_status(dataset)})  # fmt: skip
    except Exception:  # noqa: BLE001 - Redis down must not fail ingestion; the page polls the row too
        log.warning("could not publish progress of dataset %s", dataset.id, exc_info=True)
    if dataset.status not in (Dataset.Status.PENDING, Dataset.Status.PROCESSING):
        _last_sent.pop(key, None)
