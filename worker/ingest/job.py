"""The ingestion job: claim a pending dataset, unpack and check its zip, leave it ready or failed.

Run by the `datasets.ingest` task (`worker/ingest_tasks.py`); the web process queues it
by name (`platform_web/datasets/services.enqueue_ingestion`).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from platform_web.datasets import services
from platform_web.datasets.errors import DatasetGone, IngestionError
from platform_web.datasets.live import publish_dataset_progress
from platform_web.datasets.models import Dataset
from platform_web.datasets.zip_safety import ZipLimits
from platform_web.trainer_files.storage import delete_dataset_objects, put_dataset
from worker.ingest.ingestion import IngestSettings, ingest_zip

log = logging.getLogger(__name__)

# Progress is written to the database at most this often.
PROGRESS_INTERVAL_SECONDS = 0.5


def ingest_settings() -> IngestSettings:
    """Ingestion limits from Django settings."""
    return IngestSettings(
        zip_limits=ZipLimits(
            max_total_bytes=settings.ZIP_MAX_TOTAL_BYTES,
            max_entries=settings.ZIP_MAX_ENTRIES,
            max_ratio=settings.ZIP_MAX_RATIO,
        ),
        max_pixels=settings.IMAGE_MAX_PIXELS,
        max_total_pixels=settings.DATASET_MAX_PIXELS,
        max_pixels_per_zip_byte=settings.DATASET_MAX_PIXELS_PER_ZIP_BYTE,
        processes=max(1, min(settings.INGEST_PROCESSES, os.cpu_count() or 1)),
    )


def ingest_dataset(*, dataset_id, config: IngestSettings | None = None) -> str:
    """Unpack and check a pending dataset's zip; leave it ready or failed with the reason. Returns the status.

    Idempotent: a dataset already ready or failed is left alone; one left
    `processing` by a killed worker starts over from its upload.
    """
    dataset = _claim(dataset_id)
    if dataset is None:
        return "missing"
    if dataset.status != Dataset.Status.PROCESSING:
        return dataset.status
    staging, final, upload = dataset.staging_directory, dataset.directory, dataset.upload_path
    for leftover in (staging, final):
        shutil.rmtree(leftover, ignore_errors=True)
    ready = False
    try:
        if not upload.exists():
            raise IngestionError("The uploaded zip is no longer on the server; upload it again.")
        staging.mkdir(parents=True)
        result = ingest_zip(upload, staging, config or ingest_settings(), ProgressWriter(dataset_id))
        os.replace(staging, final)
        # With object storage on, trainers without the shared folder read it from there; a failure is a warning.
        stored = put_dataset(dataset_id, final, result.content_hash)
        fields = {
            "classes": result.classes,
            "class_counts": result.class_counts,
            "image_count": result.image_count,
            "train_count": result.train_count,
            "val_count": result.val_count,
            "split_source": result.split_source,
            "size_stats": result.size_stats,
            "content_hash": result.content_hash,
            "thumbnails": result.thumbnails,
            "warnings": ([stored] if stored else []) + result.warnings,
            "duplicates": result.duplicates,
        }
        if not services.finish_ingestion(dataset_id, Dataset.Status.READY, **fields):
            raise DatasetGone()
        ready = True
        return Dataset.Status.READY
    except DatasetGone:
        delete_dataset_objects(dataset_id)  # deleted while its tar went to object storage: none is left there
        return "deleted"
    except IngestionError as e:
        services.finish_ingestion(dataset_id, Dataset.Status.FAILED, error=str(e))
        return Dataset.Status.FAILED
    except Exception as e:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("ingestion of dataset %s ran out of disk space: %s", dataset_id, e)
            error = (
                "The server ran out of disk space while unpacking this dataset; nothing of it was kept. Delete "
                "datasets you no longer need (or ask the operator to free space), then upload the zip again."
            )
        else:
            log.exception("ingestion of dataset %s failed", dataset_id)
            error = f"Ingestion stopped by an unexpected error ({type(e).__name__}: {e}). Upload the zip again."
        services.finish_ingestion(dataset_id, Dataset.Status.FAILED, error=error)
        return Dataset.Status.FAILED
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not ready:
            shutil.rmtree(final, ignore_errors=True)
        upload.unlink(missing_ok=True)


def _claim(dataset_id) -> Dataset | None:
    """pending (or processing, after a lost worker) -> processing; any other state is returned as it is."""
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().filter(pk=dataset_id).first()
        if dataset is None or dataset.status not in (Dataset.Status.PENDING, Dataset.Status.PROCESSING):
            return dataset
        dataset.status = Dataset.Status.PROCESSING
        dataset.progress = 0.0
        dataset.progress_message = "Starting"
        dataset.error = ""
        dataset.save(update_fields=["status", "progress", "progress_message", "error", "updated_at"])
        return dataset


class ProgressWriter:
    """Progress callback for ingest_zip: a database write at most every PROGRESS_INTERVAL_SECONDS.

    Raises DatasetGone when the dataset was deleted, so ingestion stops early.
    """

    def __init__(self, dataset_id) -> None:
        self.dataset_id = dataset_id
        self.last_write = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last_write < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_write = now
        updated = Dataset.objects.filter(pk=self.dataset_id, status=Dataset.Status.PROCESSING).update(
            progress=round(min(max(fraction, 0.0), 1.0), 4), progress_message=message[:200], updated_at=timezone.now()
        )
        if not updated:
            raise DatasetGone()
        publish_dataset_progress(self.dataset_id)  # live page (platform_web/datasets/live.py)
