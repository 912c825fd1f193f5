"""Celery tasks for dataset ingestion (thin: the work is in platform_web.datasets.services)."""

from __future__ import annotations

from platform_web.datasets import (
    ingestion,  # noqa: F401 - load the engine (torch) once, before the pool forks
    services,
)
from worker.celery_app import app

# Generous limits: a 2 GiB zip of small images takes minutes, not hours.
INGEST_SOFT_TIME_LIMIT = 2 * 3600
INGEST_TIME_LIMIT = INGEST_SOFT_TIME_LIMIT + 120


@app.task(
    name=services.INGEST_TASK_NAME,
    queue="ingest",
    acks_late=True,
    soft_time_limit=INGEST_SOFT_TIME_LIMIT,
    time_limit=INGEST_TIME_LIMIT,
)
def ingest_dataset_task(dataset_id: str) -> str:
    """Ingest one uploaded dataset by id; returns its final status."""
    return services.ingest_dataset(dataset_id=dataset_id)
