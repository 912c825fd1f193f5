"""Thin views over the trained-model services: parse, call one service, shape the response."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from platform_web.trained_models import background, selectors, services
from platform_web.trained_models import compare as compare_service
from platform_web.trained_models.errors import ModelFileDamaged, ModelUnavailable, NotImages, TryItError
from platform_web.trained_models.files import file_for_download


def _file_response(request, trial, kind: str):
    try:
        entry = file_for_download(trial, kind)
    except ModelFileDamaged as e:
        messages.error(request, str(e))
        return redirect("trained_models:model", study_id=trial.study_id, number=trial.number)
    except ModelUnavailable as e:
        raise Http404(str(e)) from e
    response = FileResponse(entry.path.open("rb"), as_attachment=True, filename=entry.download_name)
    if entry.sha256:
        response["X-Content-SHA256"] = entry.sha256
    return response


@login_required
@require_GET
def download(request, study_id, number: int, kind: str):
    """Stream one of the trial's model files (owner only; others get 404)."""
    return _file_response(request, selectors.get_owned_trial(request.user, study_id, number), kind)


@login_required
@require_GET
def best_download(request, study_id, kind: str):
    """Stream the study's best trial's model file."""
    study = selectors.get_owned_study(request.user, study_id)
    return _file_response(request, selectors.best_trial_of(study), kind)


@login_required
@require_GET
def best_model(request, study_id):
    """The model page of the study's best trial."""
    trial = selectors.best_trial_of(selectors.get_owned_study(request.user, study_id))
    return redirect("trained_models:model", study_id=trial.study_id, number=trial.number)


@login_required
@require_GET
def model_page(request, study_id, number: int):
    """Everything about one trained model: files, metadata, evaluation, try-it, snippet."""
    trial = selectors.get_owned_trial(request.user, study_id, number)
    context = services.model_page_context(trial)
    context["api"] = {
        "url": request.build_absolute_uri(reverse("api_v1:predict", args=[trial.study_id, trial.number])),
        "per_minute": settings.API_REQUESTS_PER_MINUTE,
    }
    if context["unavailable"] is None:
        context.update(background.model_page_states(trial, context))
    return render(request, "trained_models/model.html", context)


@login_required
@require_GET
def misclassified_image(request, study_id, number: int, index: int):
    """A thumbnail of one misclassified validation image (owner only)."""
    trial = selectors.get_owned_trial(request.user, study_id, number)
    try:
        path = services.misclassified_thumbnail(trial, index)
    except ModelUnavailable as e:
        raise Http404(str(e)) from e
    response = FileResponse(path.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def predict(request, study_id, number: int):
    """Try it: classify the uploaded images with the trial's model (JSON: top-5 per image or a message).

    400 with `error` when the request as a whole cannot be used (no file, too many, none an image).
    """
    trial = selectors.get_owned_trial(request.user, study_id, number)
    try:
        results = services.classify_uploads(trial, request.FILES.getlist("files"))
    except NotImages as e:  # not one image among the files: a 400 naming them, and the per-file answers
        return JsonResponse({"error": str(e), "results": e.results}, status=400)
    except TryItError as e:
        return JsonResponse({"error": str(e)}, status=400)
    except ModelUnavailable as e:
        return JsonResponse({"error": str(e)}, status=409)
    return JsonResponse({"results": results})


@login_required
@require_GET
def compare(request):
    """Pick trials (or studies: their best trials) and see their curves and metrics side by side.

    Fewer than two models (nothing ticked, references that are not the user's) is no error:
    the page says what to do, in its message style.
    """
    context = compare_service.compare_context(
        request.user,
        trial_refs=request.GET.getlist("t"),
        study_ids=request.GET.getlist("s"),
        submitted="compare" in request.GET,
    )
    return render(request, "trained_models/compare.html", context)
