"""Dataset pages: list, upload, dataset page, status JSON, thumbnails, delete. Thin over services/selectors."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from platform_web.datasets import selectors, services
from platform_web.datasets.errors import DatasetInUse, UploadRejected
from platform_web.datasets.forms import DatasetUploadForm
from platform_web.datasets.uploads import MULTIPART_OVERHEAD_BYTES, SizeLimitedUploadHandler
from platform_web.datasets.zip_safety import human_bytes


@login_required
@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    return render(request, "datasets/list.html", {"datasets": selectors.datasets_of(request.user)})


@login_required
@require_http_methods(["POST"])
def dataset_sample(request: HttpRequest) -> HttpResponse:
    """Create the sample dataset through the normal ingestion path, then show its page (its progress)."""
    try:
        dataset = services.create_sample_dataset(owner=request.user)
    except UploadRejected as e:
        messages.error(request, str(e))
        return redirect("datasets:list")
    messages.success(request, "The sample dataset is being prepared: six classes of shapes, ready in seconds.")
    return redirect("datasets:detail", dataset_id=dataset.pk)


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("x-requested-with") == "XMLHttpRequest" or "application/json" in request.headers.get(
        "accept", ""
    )


def _upload_page(
    request: HttpRequest, form: DatasetUploadForm, error: str = "", status: int = 200, retry_after: int | None = None
) -> HttpResponse:
    if _wants_json(request):
        response = JsonResponse({"error": error or _form_errors(form)}, status=status if status != 200 else 400)
    else:
        context = {"form": form, "error": error, "max_bytes": settings.UPLOAD_MAX_BYTES}
        context["max_size"] = human_bytes(settings.UPLOAD_MAX_BYTES)
        response = render(request, "datasets/upload.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _form_errors(form: DatasetUploadForm) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors) or "The upload was not accepted."


@csrf_exempt  # the upload handlers must be set before CSRF checking reads the body; csrf_protect below
@login_required
@require_http_methods(["GET", "POST"])
def dataset_upload(request: HttpRequest) -> HttpResponse:
    """GET: the upload page. POST: a zip streamed to disk, then ingestion is queued."""
    if request.method == "GET":
        return _upload_page(request, DatasetUploadForm())
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > settings.UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD_BYTES:
        # Refused from Content-Length, before the multipart body is parsed: no temporary file is written.
        message = (
            f"The upload is {human_bytes(declared)}; the largest upload accepted is "
            f"{human_bytes(settings.UPLOAD_MAX_BYTES)}. Nothing was kept."
        )
        return _upload_page(request, DatasetUploadForm(), message, status=413)
    handler = SizeLimitedUploadHandler(request, max_bytes=settings.UPLOAD_MAX_BYTES)
    request.upload_handlers = [handler]
    return _receive_upload(request, handler)


@csrf_protect
def _receive_upload(request: HttpRequest, handler: SizeLimitedUploadHandler) -> HttpResponse:
    form = DatasetUploadForm(request.POST, request.FILES)
    if handler.too_large:
        message = (
            f"The file is larger than the largest upload accepted ({human_bytes(settings.UPLOAD_MAX_BYTES)}); "
            "nothing was kept."
        )
        return _upload_page(request, DatasetUploadForm(), message, status=413)
    if not form.is_valid():
        return _upload_page(request, form, status=400)
    try:
        dataset = services.create_dataset_from_upload(
            owner=request.user, name=form.cleaned_data["name"], upload=form.cleaned_data["file"]
        )
    except UploadRejected as e:
        return _upload_page(request, form, str(e), status=e.status, retry_after=e.retry_after)
    url = reverse("datasets:detail", args=[dataset.id])
    if _wants_json(request):
        return JsonResponse({"id": str(dataset.id), "url": url}, status=201)
    return redirect(url)


@login_required
@require_GET
def dataset_detail(request: HttpRequest, dataset_id) -> HttpResponse:
    dataset = selectors.dataset_of(request.user, dataset_id)
    context = {
        "dataset": dataset,
        "status": selectors.status_payload(dataset),
        "chart": selectors.class_chart(dataset),
        "groups": selectors.thumbnail_groups(dataset),
        "duplicates": selectors.duplicate_findings(dataset),
        "warnings_open": len(dataset.warnings or []) <= selectors.WARNINGS_SHOWN_OPEN,
    }
    return render(request, "datasets/detail.html", context)


@never_cache
@login_required
@require_GET
def dataset_status(request: HttpRequest, dataset_id) -> JsonResponse:
    """Polled by the dataset page while ingestion runs."""
    return JsonResponse(selectors.status_payload(selectors.dataset_of(request.user, dataset_id)))


@login_required
@require_GET
def dataset_thumbnail(request: HttpRequest, dataset_id, name: str) -> FileResponse:
    path = selectors.thumbnail_path(selectors.dataset_of(request.user, dataset_id), name)
    response = FileResponse(open(path, "rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=86400"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def dataset_delete(request: HttpRequest, dataset_id) -> HttpResponse:
    """GET: ask for confirmation. POST: delete the dataset and its files."""
    dataset = selectors.dataset_of(request.user, dataset_id)
    if request.method == "GET":
        return render(request, "datasets/delete.html", {"dataset": dataset, "study_count": dataset.studies.count()})
    name = dataset.name
    try:
        services.delete_dataset(dataset=dataset)
    except DatasetInUse as e:
        messages.error(request, str(e))
        return redirect("datasets:detail", dataset_id=dataset.pk)
    messages.success(request, f"Dataset “{name}”, its studies and all their files were deleted.")
    return redirect("datasets:list")
