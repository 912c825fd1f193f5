"""Live ingestion progress: the dataset page's WebSocket gets what status.json answers, as it changes.

Ingestion calls `publish_dataset_progress(dataset_id)` right after it writes
progress or a final status (it already writes at most every
PROGRESS_INTERVAL_SECONDS). The database row stays the source of truth: a page
that connects or reconnects first gets the row as it is now, then every update;
each message carries the whole status, so a lost one is repaired by the next.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from platform_web.datasets.models import Dataset
from platform_web.datasets.selectors import status_payload

log = logging.getLogger(__name__)


def dataset_group(dataset_id) -> str:
    """Channel group name of one dataset's page."""
    return f"dataset-{dataset_id}"


def dataset_status(dataset: Dataset) -> dict:
    """The dataset's ingestion state, as status.json serves it, tagged for the socket."""
    return {"type": "dataset", **status_payload(dataset)}


def owned_dataset(user, dataset_id) -> Dataset | None:
    """The dataset if `user` owns it, else None (anonymous users own nothing)."""
    if user is None or not user.is_authenticated:
        return None
    return Dataset.objects.filter(pk=dataset_id, owner=user).first()


def publish_dataset_progress(dataset_id) -> None:
    """Send the dataset's current row to its page; never raises (ingestion must not fail on Redis)."""
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "dataset.progress", "status": dataset_status(dataset)}
    try:
        async_to_sync(layer.group_send)(dataset_group(dataset_id), message)
    except Exception:  # noqa: BLE001 - the page also reads the row when it (re)connects
        log.warning("could not publish progress of dataset %s", dataset_id, exc_info=True)
