"""Dataset use cases: accept an upload, ingest it, delete a dataset.

Views and the Celery task stay thin and call these functions.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.move import file_move_safe
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from platform_web.datasets.errors import DatasetGone, IngestionError, UploadRejected
from platform_web.datasets.live import publish_dataset_progress
from platform_web.datasets.models import Dataset
from platform_web.datasets.zip_safety import ZipLimits, human_bytes

if TYPE_CHECKING:
    from platform_web.datasets.ingestion import IngestSettings

# The ingestion modules import the training engine (and with it torch): they are
# imported where ingestion runs, never in the web process.

log = logging.getLogger(__name__)

INGEST_TASK_NAME = "datasets.ingest"
# Progress is written to the database at most this often.
PROGRESS_INTERVAL_SECONDS = 0.5


def check_upload_size(size: int) -> None:
    """Refuse an upload larger than settings.UPLOAD_MAX_BYTES, with a message saying the limit."""
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadRejected(
            f"The file is {human_bytes(size)}; the largest upload accepted is {human_bytes(settings.UPLOAD_MAX_BYTES)}.",
            status=413,
        )


def create_dataset_from_upload(*, owner, name: str, upload: UploadedFile) -> Dataset:
    """Record a pending dataset, move the uploaded zip to its upload path, queue its ingestion on commit."""
    check_upload_size(upload.size)
    if upload.size == 0:
        raise UploadRejected("The file is empty. Choose the zip of your dataset.")
    name = (name or "").strip() or Path(upload.name or "dataset").stem or "dataset"
    with transaction.atomic():
        dataset = Dataset(
            owner=owner,
            name=name[:200],
            zip_size=upload.size,
            status=Dataset.Status.PENDING,
            progress_message="Waiting for a worker",
        )
        dataset.full_clean()
        dataset.save()
        destination = dataset.upload_path
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            _store_upload(upload, destination)
        except BaseException:
            destination.unlink(missing_ok=True)
            raise
        transaction.on_commit(lambda: enqueue_ingestion(dataset.id))
    return dataset


def _store_upload(upload: UploadedFile, destination: Path) -> None:
    if hasattr(upload, "temporary_file_path"):
        # Streamed to FILE_UPLOAD_TEMP_DIR by the upload handler: a rename, not a copy.
        upload.file.flush()
        file_move_safe(upload.temporary_file_path(), str(destination), allow_overwrite=True)
        return
    with open(destination, "wb") as out:  # small in-memory uploads (tests, API clients)
        for chunk in upload.chunks():
            out.write(chunk)


def enqueue_ingestion(dataset_id) -> None:
    """Send the ingestion task to the `ingest` queue; mark the dataset failed if the broker is down."""
    from worker.celery_app import app

    try:
        # By name: the web process never imports the task module (and the engine behind it).
        app.send_task(INGEST_TASK_NAME, args=[str(dataset_id)], queue="ingest")
    except Exception as e:  # noqa: BLE001 - any broker failure means the dataset will never be ingested
        log.exception("could not queue ingestion of dataset %s", dataset_id)
        _finish(
            dataset_id, Dataset.Status.FAILED, error=f"The ingestion queue could not be reached ({e}). Upload again."
        )
        Dataset(id=dataset_id).upload_path.unlink(missing_ok=True)


def ingest_settings() -> IngestSettings:
    """Ingestion limits from Django settings."""
    from platform_web.datasets.ingestion import IngestSettings

    return IngestSettings(
        zip_limits=ZipLimits(
            max_total_bytes=settings.ZIP_MAX_TOTAL_BYTES,
            max_entries=settings.ZIP_MAX_ENTRIES,
            max_ratio=settings.ZIP_MAX_RATIO,
        ),
        max_pixels=settings.IMAGE_MAX_PIXELS,
        processes=max(1, min(settings.INGEST_PROCESSES, os.cpu_count() or 1)),
    )


def ingest_dataset(*, dataset_id, config: IngestSettings | None = None) -> str:
    """Unpack and check a pending dataset's zip; leave it ready or failed with the reason. Returns the status.

    Idempotent: a dataset already ready or failed is left alone; one left
    `processing` by a killed worker starts over from its upload.
    """
    from platform_web.datasets.ingestion import ingest_zip

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
            "warnings": result.warnings,
        }
        if not _finish(dataset_id, Dataset.Status.READY, **fields):
            raise DatasetGone()
        ready = True
        return Dataset.Status.READY
    except DatasetGone:
        return "deleted"
    except IngestionError as e:
        _finish(dataset_id, Dataset.Status.FAILED, error=str(e))
        return Dataset.Status.FAILED
    except Exception as e:
        log.exception("ingestion of dataset %s failed", dataset_id)
        _finish(
            dataset_id,
            Dataset.Status.FAILED,
            error=f"Ingestion stopped by an unexpected error ({type(e).__name__}: {e}). Upload the zip again.",
        )
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


def _finish(dataset_id, status: str, **fields) -> bool:
    """Final state of a dataset still being ingested; False when it was deleted meanwhile."""
    done = {"progress": 1.0, "progress_message": ""} if status == Dataset.Status.READY else {"progress_message": ""}
    updated = Dataset.objects.filter(pk=dataset_id).update(
        status=status, ingested_at=timezone.now(), updated_at=timezone.now(), **done, **fields
    )
    publish_dataset_progress(dataset_id)  # live page (platform_web/datasets/live.py)
    return updated == 1


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


def delete_dataset(*, dataset: Dataset) -> None:
    """Delete the record (and, through it, its studies) and, once committed, every file of the dataset."""
    paths = (dataset.directory, dataset.staging_directory, dataset.upload_path)
    with transaction.atomic():
        dataset.delete()
        transaction.on_commit(lambda: _remove_paths(paths))


def _remove_paths(paths) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
