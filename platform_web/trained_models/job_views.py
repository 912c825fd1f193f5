"""Views of the model page's background work: the evaluation and the exports, queued for the worker and polled.

They answer at once: the cached result when there is one, otherwise they queue
the job (once, see `background.request_job`) and answer "pending" with HTTP 202.
The page's script asks for JSON and polls about every second; a plain form post
comes back to the model page, which refreshes itself while something is pending.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from platform_web.trained_models import background, selectors, services
from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import EXPORT_KINDS, export_file

HTTP_STATUS = {background.PENDING: 202, background.FAILED: 409}


def _wants_json(request) -> bool:
    # A browser's form post accepts */* too; only the page's script names JSON.
    return "application/json" in request.headers.get("Accept", "")


def _back_to_page(trial, section: str):
    return redirect(reverse("trained_models:model", args=[trial.study_id, trial.number]) + f"#{section}")


def _pending_fields(trial, status: background.JobStatus) -> dict:
    return {
        "phase": status.phase,
        "seconds": status.seconds,
        "message": background.progress_message(trial, status.kind),
    }


def _export_answer(request, trial, kind: str, status: background.JobStatus) -> JsonResponse:
    """The export's state, the file-table row to show, and the file once it is ready."""
    row = services.file_row(trial, export_file(trial, kind))
    row_html = render_to_string("trained_models/_file_row.html", {"f": {**row, "job": status}}, request=request)
    body: dict = {"state": status.state, "kind": kind, "row_html": row_html}
    if status.state == background.READY:
        entry = row["entry"]
        body.update(
            download_url=row["url"], download_name=entry.download_name, sha256=entry.sha256,
            size_bytes=entry.size_bytes, message=f"{entry.kind.label} file ready: {entry.download_name}.",
        )  # fmt: skip
    elif status.state == background.PENDING:
        body.update(_pending_fields(trial, status))
    elif status.state == background.FAILED:
        body["error"] = status.error
    return JsonResponse(body, status=HTTP_STATUS.get(status.state, 200))


@login_required
@require_http_methods(["GET", "POST"])
def export(request, study_id, number: int, kind: str):
    """POST: export the model to TorchScript or ONNX in the worker (once; again after a failure).
    GET: where the export stands, as JSON."""
    trial = selectors.get_owned_trial(request.user, study_id, number)
    if kind not in EXPORT_KINDS:
        raise Http404("Only TorchScript and ONNX are exported on request.")
    posted = request.method == "POST"
    try:
        status = background.request_job(trial, kind, retry=True) if posted else background.job_status(trial, kind)
    except ModelUnavailable as e:
        if posted and not _wants_json(request):
            messages.error(request, str(e))
            return _back_to_page(trial, "files")
        return JsonResponse({"state": background.FAILED, "kind": kind, "error": str(e)}, status=409)
    if not posted or _wants_json(request):
        return _export_answer(request, trial, kind, status)
    if status.state == background.READY:
        entry = export_file(trial, kind)
        messages.success(request, f"{entry.kind.label} file ready: {entry.download_name}.")
    elif status.state == background.FAILED:
        messages.error(request, status.error)
    else:
        messages.info(request, f"{background.progress_message(trial, kind)} The file appears below when it is ready.")
    return _back_to_page(trial, "files")


def _evaluation_answer(request, trial, status: background.JobStatus) -> JsonResponse:
    if status.state == background.READY:
        context = services.evaluation_context(trial, status.result)
        html = render_to_string("trained_models/_evaluation.html", context, request=request)
        return JsonResponse({"state": status.state, "html": html})
    if status.state == background.FAILED:
        context = {"error": status.error, "evaluation_url": request.path}
        html = render_to_string("trained_models/_evaluation_error.html", context, request=request)
        return JsonResponse({"state": status.state, "error": status.error, "html": html}, status=409)
    return JsonResponse({"state": status.state, **_pending_fields(trial, status)}, status=202)


@login_required
@require_http_methods(["GET", "POST"])
def evaluation(request, study_id, number: int):
    """The evaluation (per-class accuracy, confusion matrix, misclassified images) as JSON with its HTML.

    GET queues it for the worker when it is neither cached nor under way; POST also
    forgets a failure and tries again.
    """
    trial = selectors.get_owned_trial(request.user, study_id, number)
    posted = request.method == "POST"
    try:
        status = background.request_job(trial, background.EVALUATION, retry=posted)
    except ModelUnavailable as e:
        status = background.JobStatus(background.EVALUATION, background.FAILED, error=str(e))
    if posted and not _wants_json(request):
        if status.state == background.FAILED:
            messages.error(request, status.error)
        return _back_to_page(trial, "evaluation")
    return _evaluation_answer(request, trial, status)
