"""The model page's heavy work (evaluation, TorchScript/ONNX exports) runs in the Celery worker, not in the web process.

Under ASGI every sync Django view shares one thread, so a 20-second evaluation
computed in a request would freeze every page for everyone. The web side only
reads the cached result or enqueues a job and answers "pending"; the worker
runs the job (`worker/model_jobs.py`), which caches its result next to the
artefact under a file lock, so a job that runs twice does the work once.

Each job keeps two small files next to the model file:

- `.<kind>.job.json` while it is queued or running (`{"state", "since"}`): a
  page refresh finds it and does not enqueue again;
- `<kind>.error.json` when it failed (`{"message", "model_sha256", "at"}`): the
  page shows the message until the user tries again.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from platform_web.celery import app
from platform_web.studies.models import Trial
from platform_web.trained_models import services
from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import EXPORT_KINDS, FILE_KINDS, export_file, model_dir, write_json_atomic

log = logging.getLogger(__name__)

EVALUATION = "evaluation"
JOB_KINDS = (EVALUATION, *EXPORT_KINDS)
# The tasks in worker/model_tasks.py, sent by name (`task_routes` puts them on the ingest queue).
EVALUATE_TASK = "models.evaluate"
EXPORT_TASK = "models.export"
# A job that runs past the soft limit is stopped with a message; the hard limit kills it.
JOB_SOFT_TIME_LIMIT = 20 * 60
JOB_TIME_LIMIT = JOB_SOFT_TIME_LIMIT + 60
# A job still marked running this long after it started died with its worker: say so, offer to try again.
RUNNING_STALE_AFTER = JOB_TIME_LIMIT + 60
# A job still queued this long is sent again when the page asks (the copy finds the cached result if both run).
QUEUED_RESEND_AFTER = 10 * 60

PENDING, READY, FAILED, IDLE = "pending", "ready", "failed", "idle"


@dataclass(frozen=True)
class JobStatus:
    """Where one job of one model stands, as the page shows it."""

    kind: str
    state: str  # ready | pending | failed | idle (never asked for)
    phase: str | None = None  # while pending: queued (waiting for a worker) | running
    since: float | None = None  # while pending: when it was queued or started (epoch seconds)
    error: str | None = None  # when failed: what went wrong and what to do
    result: dict | None = None  # the evaluation, when ready

    @property
    def seconds(self) -> int:
        """Seconds since the job was queued or started (0 when not pending)."""
        return max(0, int(time.time() - self.since)) if self.since else 0


def job_path(folder: Path, kind: str) -> Path:
    return folder / f".{kind}.job.json"


def error_path(folder: Path, kind: str) -> Path:
    return folder / f"{kind}.error.json"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _read_marker(path: Path) -> dict | None:
    """The job marker; one caught half-written (or left so by a crash) counts as queued since it was made."""
    try:
        text = path.read_text()
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"state": "queued", "since": mtime}


def check_kind(kind: str) -> None:
    if kind not in JOB_KINDS:
        raise ModelUnavailable(f"{kind} is not something the model page computes.")


def progress_message(trial: Trial, kind: str) -> str:
    """What the page says while the job is pending."""
    if kind == EVALUATION:
        count = trial.study.dataset.val_count
        images = f"{count} validation image{'s' if count != 1 else ''}" if count else "the validation images"
        return f"Evaluating the model on {images}…"
    if kind == "onnx_int8":
        return "Quantising to INT8 and checking it on the validation split…"
    return f"Exporting to {FILE_KINDS[kind].label} and checking it…"


def job_status(trial: Trial, kind: str) -> JobStatus:
    """The job's state, read from the cached result and the job files (cheap: a few small reads)."""
    check_kind(kind)
    folder = model_dir(trial)  # a trial without its model file raises ModelUnavailable here
    if kind == EVALUATION:
        result = services.cached_evaluation(trial)
        if result is not None:
            return JobStatus(kind, READY, result=result)
    elif export_file(trial, kind).available:
        return JobStatus(kind, READY)
    marker = _read_marker(job_path(folder, kind))
    if marker is not None:
        since = float(marker.get("since") or 0)
        if marker.get("state") != "running" or time.time() - since < RUNNING_STALE_AFTER:
            return JobStatus(kind, PENDING, phase=marker.get("state", "queued"), since=since)
        return JobStatus(kind, FAILED, error="The work stopped before it finished (its worker was stopped). Try again.")
    failure = _read_json(error_path(folder, kind))
    if failure is not None and failure.get("model_sha256") == trial.model_sha256:
        return JobStatus(kind, FAILED, error=failure.get("message") or "The work failed. Try again.")
    return JobStatus(kind, IDLE)


def request_job(trial: Trial, kind: str, *, retry: bool = False) -> JobStatus:
    """Start the job unless its result is cached or it is already queued or running; return its state.

    With `retry`, a failure on record (or a job that died) is forgotten and the job starts again.
    Raises ModelUnavailable when the model file is missing or the task queue cannot be reached.
    """
    status = job_status(trial, kind)
    folder = model_dir(trial)
    if status.state == FAILED and retry:
        error_path(folder, kind).unlink(missing_ok=True)
        job_path(folder, kind).unlink(missing_ok=True)
    elif status.state == PENDING and status.phase == "queued" and status.seconds > QUEUED_RESEND_AFTER:
        job_path(folder, kind).unlink(missing_ok=True)  # the message may be lost: send another
    elif status.state != IDLE:
        return status
    if not _claim(folder, kind):
        return job_status(trial, kind)  # another request queued it a moment ago
    try:
        _enqueue(trial.pk, kind)
    except Exception as e:  # noqa: BLE001 - any broker failure means the job will never run
        job_path(folder, kind).unlink(missing_ok=True)
        log.exception("could not queue %s of trial %s", kind, trial.pk)
        raise ModelUnavailable(f"The task queue could not be reached ({e}). Try again in a minute.") from e
    return job_status(trial, kind)  # an eagerly run task (tests) is already done


def _claim(folder: Path, kind: str) -> bool:
    """Write the queued marker unless it exists: of two requests at once, one enqueues."""
    try:
        fd = os.open(job_path(folder, kind), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump({"state": "queued", "since": time.time()}, handle)
    return True


def _enqueue(trial_id: int, kind: str) -> None:
    """Send the task (routed to the `ingest` queue). No row is written first, so nothing waits for a commit."""
    # A signature by name: the registered task where its module is loaded (eager in tests), else sent by name.
    if kind == EVALUATION:
        app.signature(EVALUATE_TASK, args=[trial_id]).apply_async()
    else:
        app.signature(EXPORT_TASK, args=[trial_id, kind]).apply_async()


def record_failure(trial: Trial | int, kind: str, message: str) -> None:
    """Keep the message next to the model file so the page shows it instead of waiting forever."""
    if not isinstance(trial, Trial):
        trial = Trial.objects.filter(pk=trial).first()
        if trial is None:
            return
    try:
        folder = model_dir(trial)
    except ModelUnavailable:
        return
    record = {"message": message, "model_sha256": trial.model_sha256, "at": time.time()}
    write_json_atomic(error_path(folder, kind), record)


def model_page_states(trial: Trial, context: dict) -> dict:
    """What the model page adds to `services.model_page_context`: where each export and the evaluation stand.

    Each export row gets its `job`; the evaluation is queued on the first visit, so
    it is under way before the page's script asks.
    """
    pending = False
    for row in context["files"]:
        if row["export_url"] and not row["entry"].available:
            row["job"] = job_status(trial, row["entry"].kind.kind)
            pending = pending or row["job"].state == PENDING
    if "evaluation" in context:
        return {"jobs_pending": pending}
    try:
        job = request_job(trial, EVALUATION)
    except ModelUnavailable as e:
        job = JobStatus(EVALUATION, FAILED, error=str(e))
    if job.state == READY:  # finished between the two reads, or run eagerly
        return {"jobs_pending": pending, **services.evaluation_context(trial, job.result)}
    return {
        "jobs_pending": pending or job.state == PENDING,
        "evaluation_job": job,
        "evaluation_message": progress_message(trial, EVALUATION),
    }
