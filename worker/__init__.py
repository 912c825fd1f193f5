"""What runs in the Celery worker: the task modules (`*_tasks.py`, thin) and the work they call:
study orchestration (`studies/`), dataset ingestion (`ingest/`) and the model page's jobs (`model_jobs.py`)."""
