"""Dataset use cases: accept an upload and queue its ingestion, record how ingestion ended, delete a dataset.

Views stay thin and call these functions. Ingestion itself runs in the worker
(`worker/ingest/job.py`), which the web process never imports: it is queued by task name.
"""

from __future__ import annotations

import logging
import math
import shutil
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.move import file_move_safe
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from platform_web.celery import app
from platform_web.datasets import sample
from platform_web.datasets.errors import DatasetInUse, UploadRejected
from platform_web.datasets.live import publish_dataset_progress
from platform_web.datasets.models import Dataset
from platform_web.datasets.zip_safety import human_bytes
from platform_web.studies import services as study_services
from platform_web.studies.trainer_client import TrainerClient, TrainerError
from platform_web.trainer_files.storage import delete_dataset_objects

log = logging.getLogger(__name__)

INGEST_TASK_NAME = "datasets.ingest"


def check_upload_size(size: int) -> None:
    """Refuse an upload larger than settings.UPLOAD_MAX_BYTES, with a message saying the limit."""
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadRejected(
            f"The file is {human_bytes(size)}; the largest upload accepted is {human_bytes(settings.UPLOAD_MAX_BYTES)}.",
            status=413,
        )


def check_user_limits(owner, size: int) -> None:
    """Refuse an upload past the owner's uploads per minute or storage (settings), saying the limit."""
    now = timezone.now()
    window = Dataset.objects.filter(owner=owner, created_at__gte=now - timedelta(minutes=1))
    recent = window.count()
    if recent >= settings.UPLOADS_PER_MINUTE:
        # The upload that frees a place is the oldest of the last UPLOADS_PER_MINUTE, a minute after it came.
        freeing = window.order_by("-created_at").values_list("created_at", flat=True)[settings.UPLOADS_PER_MINUTE - 1]
        wait = max(1, math.ceil((freeing + timedelta(minutes=1) - now).total_seconds()))
        raise UploadRejected(
            f"You uploaded {recent} datasets in the last minute; the limit is {settings.UPLOADS_PER_MINUTE} a minute. "
            f"Upload again in {wait} s.",
            status=429,
            retry_after=wait,
        )
    used = Dataset.objects.filter(owner=owner).aggregate(total=Sum("zip_size"))["total"] or 0
    if used + size > settings.USER_STORAGE_BYTES:
        raise UploadRejected(
            f"Your datasets use {human_bytes(used)} of your {human_bytes(settings.USER_STORAGE_BYTES)}; this "
            f"{human_bytes(size)} zip does not fit. Delete a dataset you no longer need and upload again.",
            status=413,
        )


def create_dataset_from_upload(*, owner, name: str, upload: UploadedFile) -> Dataset:
    """Record a pending dataset, move the uploaded zip to its upload path, queue its ingestion on commit."""
    check_upload_size(upload.size)
    if upload.size == 0:
        raise UploadRejected("The file is empty. Choose the zip of your dataset.")
    name = (name or "").strip() or Path(upload.name or "dataset").stem or "dataset"
    with transaction.atomic():
        # Uploads of one user take turns from here to the commit (a write to the user's row locks it on
        # PostgreSQL and takes SQLite's write lock), so ten sent at once cannot all pass the limits' count.
        get_user_model().objects.filter(pk=owner.pk).update(last_login=F("last_login"))
        check_user_limits(owner, upload.size)
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


def create_sample_dataset(*, owner) -> Dataset:
    """The sample dataset (platform_web/datasets/sample.py) for `owner`, ingested like any upload."""
    upload = SimpleUploadedFile("sample-shapes.zip", sample.sample_zip_bytes(), content_type="application/zip")
    return create_dataset_from_upload(owner=owner, name=sample.NAME, upload=upload)


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
    try:
        # By name: the web process never imports the task module (and the engine behind it).
        app.send_task(INGEST_TASK_NAME, args=[str(dataset_id)], queue="ingest")
    except Exception as e:  # noqa: BLE001 - any broker failure means the dataset will never be ingested
        log.exception("could not queue ingestion of dataset %s", dataset_id)
        finish_ingestion(
            dataset_id, Dataset.Status.FAILED, error=f"The ingestion queue could not be reached ({e}). Upload again."
        )
        Dataset(id=dataset_id).upload_path.unlink(missing_ok=True)


def finish_ingestion(dataset_id, status: str, **fields) -> bool:
    """Final state of a dataset still being ingested; False when it was deleted meanwhile."""
    done = {"progress": 1.0, "progress_message": ""} if status == Dataset.Status.READY else {"progress_message": ""}
    updated = Dataset.objects.filter(pk=dataset_id).update(
        status=status, ingested_at=timezone.now(), updated_at=timezone.now(), **done, **fields
    )
    publish_dataset_progress(dataset_id)  # live page (platform_web/datasets/live.py)
    return updated == 1


def delete_dataset(*, dataset: Dataset) -> None:
    """Delete the dataset and everything made from it: its studies (records, Optuna trials, trial folders),
    its files (on disk and in object storage), and its decoded images in the training service's cache.

    Refused (DatasetInUse) while one of its studies is queued, running or cancelling: the
    user cancels it first, so no trial goes on training on a dataset that is gone.
    """
    active = dataset.studies.exclude(state__in=study_services.FINISHED).first()
    if active is not None:
        raise DatasetInUse(
            f"The study “{active.name}” is still {active.get_state_display().lower()} on this dataset: "
            "cancel it (or let it finish), then delete the dataset."
        )
    for study in dataset.studies.all():
        study_services.delete_study(study=study)
    paths = (dataset.directory, dataset.staging_directory, dataset.upload_path)
    content_hash, dataset_id = dataset.content_hash, dataset.id
    with transaction.atomic():
        dataset.delete()
        transaction.on_commit(lambda: _remove_paths(paths))
        transaction.on_commit(lambda: delete_dataset_objects(dataset_id))
    if content_hash and not Dataset.objects.filter(content_hash=content_hash).exists():
        try:
            TrainerClient(timeout=5).forget_cache(content_hash)
        except TrainerError as e:  # the cache is only a speed-up; the service may be down
            log.warning("could not clear the decoded cache of dataset %s: %s", content_hash, e)


def _remove_paths(paths) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
