"""JSON API for scripts (session authentication): the user's studies and a study's trials."""

from __future__ import annotations

from functools import wraps

from django.http import JsonResponse

from platform_web.studies import selectors
from platform_web.studies.serializers import study_data


def api_login_required(view):
    """401 JSON instead of a redirect to the login page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Log in first (session authentication)."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


@api_login_required
def studies(request):
    """GET /api/studies/: every study of the user, newest first."""
    return JsonResponse({"studies": [study_data(s) for s in selectors.user_studies(request.user)]})


@api_login_required
def study(request, study_id):
    """GET /api/studies/<id>/: one study with its goal, progress and best trial (and Pareto front); 404 if not theirs."""
    return JsonResponse(selectors.study_summary(selectors.study_for_owner(request.user, study_id)))


@api_login_required
def study_trials(request, study_id):
    """GET /api/studies/<id>/trials/: the study's trials with their per-epoch metrics."""
    found = selectors.study_for_owner(request.user, study_id)
    trials = selectors.study_trials(found).prefetch_related("epochs")
    return JsonResponse({"study": str(found.pk), "trials": [selectors.trial_summary(t) for t in trials]})
