"""The Celery application, shared by the web (which queues tasks by name) and the worker (which runs them).

Settings come from Django's settings (CELERY_*). The task modules are the worker's
(`include`); the web never imports them: `send_task`/`signature` by task name.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_web.settings")

app = Celery("platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.include = ["worker.ingest_tasks", "worker.study_tasks", "worker.model_tasks"]
# Three queues, each with worker processes of its own, so no kind of work waits behind another:
# study slots run for hours on `training`; ingestion (seconds to minutes per upload) on `ingest`;
# the model page's evaluations and exports on `models`, never behind another user's upload.
app.conf.task_routes = {"studies.*": {"queue": "training"}, "models.*": {"queue": "models"}}
