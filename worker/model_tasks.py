"""Celery tasks of the model page (thin: the work is in worker/model_jobs.py).

Both tasks take the Trial's primary key, re-read the row and call the services,
which cache the result next to the model file under a file lock: a task that is
delivered twice (late acknowledgement, a page asking again) does the work once.
They run on the `models` queue (see `task_routes` in platform_web/celery.py), on a worker
of their own: not behind the hours-long study slots, nor behind another user's upload.
"""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

from platform_web.celery import app
from platform_web.trained_models import background
from worker import model_jobs

_LIMITS = {"soft_time_limit": background.JOB_SOFT_TIME_LIMIT, "time_limit": background.JOB_TIME_LIMIT}


def _run(trial_id: int, kind: str) -> str:
    try:
        return model_jobs.run_job(trial_id, kind)
    except SoftTimeLimitExceeded:
        minutes = background.JOB_SOFT_TIME_LIMIT // 60
        background.record_failure(trial_id, kind, f"It took longer than {minutes} minutes and was stopped.")
        return "timed out"


@app.task(name=background.EVALUATE_TASK, acks_late=True, **_LIMITS)
def evaluate_model_task(trial_id: int) -> str:
    """Evaluate trial `trial_id`'s model on its validation split (confusion matrix, per class, mistakes)."""
    return _run(trial_id, background.EVALUATION)


@app.task(name=background.EXPORT_TASK, acks_late=True, **_LIMITS)
def export_model_task(trial_id: int, kind: str) -> str:
    """Export trial `trial_id`'s model to `kind` (torchscript, onnx or onnx_int8) and check it."""
    return _run(trial_id, kind)
