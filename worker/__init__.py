"""Celery app and tasks: dataset ingestion and Optuna study loops."""
