"""Celery tasks for dataset ingestion (thin: the work is in platform_web.datasets.services)."""
