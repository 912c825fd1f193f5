"""The trainers' internal routes (trainer_api/file_transfer.py): no session, no CSRF, Bearer TRAINER_TOKEN.

Thin: services.py decides. Answers are the files themselves or JSON {"detail": ...}.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from platform_web.trainer_files import services
from platform_web.trainer_files.responses import StreamedFileResponse, StreamedResponse
from platform_web.trainer_files.services import TrainerFilesError
from trainer_api.dataset_archive import stream_dataset_tar
from trainer_api.file_transfer import CONTENT_HASH_HEADER, SHA256_HEADER


def _refused(error: TrainerFilesError) -> JsonResponse:
    return JsonResponse({"detail": str(error)}, status=error.status)


def trainer_token_required(view):
    """401 (WWW-Authenticate: Bearer) unless the request carries the trainers' token; TrainerFilesError -> JSON."""

    @csrf_exempt
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not services.authorized(request.headers.get("Authorization", "")):
            response = JsonResponse({"detail": "A valid trainer token (Authorization: Bearer) is needed."}, status=401)
            response["WWW-Authenticate"] = "Bearer"
            return response
        try:
            return view(request, *args, **kwargs)
        except TrainerFilesError as e:
            return _refused(e)

    return wrapped


@require_GET
@trainer_token_required
def dataset_archive(request, dataset_id: str):
    """A ready dataset as one tar, streamed as it is read, with its content hash in a header."""
    dataset = services.ready_dataset(dataset_id)
    response = StreamedResponse(stream_dataset_tar(dataset.directory), content_type="application/x-tar")
    response[CONTENT_HASH_HEADER] = dataset.content_hash
    return response


@require_http_methods(["GET", "PUT"])
@trainer_token_required
def trial_file(request, key: str, name: str):
    """GET: the stored file with its SHA-256. PUT: store the body if it matches SHA256_HEADER (201 new, 204 replaced)."""
    if request.method == "PUT":
        created = services.store_trial_file(key, name, request.read, request.headers.get(SHA256_HEADER, ""))
        return HttpResponse(status=201 if created else 204)
    stored, sha256 = services.open_trial_file(key, name)
    response = StreamedFileResponse(stored, content_type="application/octet-stream")
    response[SHA256_HEADER] = sha256
    return response
