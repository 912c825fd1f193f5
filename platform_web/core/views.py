from django.http import JsonResponse
from django.shortcuts import redirect, render

from platform_web.core.health import platform_health


def healthz(request):
    """JSON state of database, Redis, Celery worker and training service; 200 only when all are ok."""
    healthy, parts = platform_health()
    return JsonResponse({"status": "ok" if healthy else "degraded", **parts}, status=200 if healthy else 503)


def home(request):
    if request.user.is_authenticated:
        return redirect("datasets:list")
    return render(request, "home.html")
