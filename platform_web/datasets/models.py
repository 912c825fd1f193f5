"""Dataset records. The files live under MEDIA_ROOT/datasets/<id>/; the
manifest written by ingestion is the contract with the training service."""

import uuid

from django.conf import settings
from django.db import models


class Dataset(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True, help_text="Why ingestion failed, in words the user can act on.")
    # Ingestion progress, 0..1, shown while processing.
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=200, blank=True, help_text="What ingestion is doing right now.")
    zip_size = models.BigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    classes = models.JSONField(default=list, blank=True, help_text="Class names in index order.")
    class_counts = models.JSONField(default=dict, blank=True, help_text="{class: {'train': n, 'val': n}}")
    image_count = models.PositiveIntegerField(default=0)
    train_count = models.PositiveIntegerField(default=0)
    val_count = models.PositiveIntegerField(default=0)
    split_source = models.CharField(max_length=20, blank=True, help_text="'given' or 'generated'")
    size_stats = models.JSONField(default=dict, blank=True, help_text="Image width/height statistics.")
    warnings = models.JSONField(default=list, blank=True, help_text="Skipped files and other notices.")
    thumbnails = models.JSONField(default=dict, blank=True, help_text="{class: [file names under thumbs/]}")
    duplicates = models.JSONField(
        default=dict,
        blank=True,
        help_text="Exact and near-duplicate images found at ingestion: counts, validation leakage, listed groups "
        "(worker/ingest/duplicate_report.py).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    ingested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def directory(self):
        """Folder holding this dataset's files, manifest and thumbnails."""
        return settings.MEDIA_ROOT / "datasets" / str(self.id)

    @property
    def upload_path(self):
        """Where the uploaded zip waits for ingestion (removed afterwards)."""
        return settings.MEDIA_ROOT / "uploads" / f"{self.id}.zip"

    @property
    def staging_directory(self):
        """Where ingestion unpacks before the finished folder is renamed into place."""
        return settings.MEDIA_ROOT / "datasets" / f".{self.id}.partial"

    @property
    def is_active(self) -> bool:
        """True while the upload waits for or goes through ingestion."""
        return self.status in (self.Status.PENDING, self.Status.PROCESSING)
