"""Celery tasks for dataset ingestion (thin: the work is in worker/ingest/job.py)."""

from __future__ import annotations

from platform_web.celery import app
from platform_web.datasets import services
from worker.ingest import job  # loads the engine's image code once, before the pool forks

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
    return job.ingest_dataset(dataset_id=dataset_id)
