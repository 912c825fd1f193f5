from django.contrib import admin
from django.urls import include, path

from platform_web.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("", include("platform_web.trainer_files.urls")),  # internal/trainer/...: trainers' files (Bearer token)
    path("admin/", admin.site.urls),
    path("accounts/", include("platform_web.accounts.urls")),
    path("accounts/tokens/", include("platform_web.api_tokens.urls")),
    path("datasets/", include("platform_web.datasets.urls")),
    path("studies/", include("platform_web.studies.urls")),
    path("api/v1/", include("platform_web.trained_models.api_urls")),  # token-authenticated prediction API
    path("api/", include("platform_web.studies.api_urls")),
    path("", include("platform_web.trained_models.urls")),  # studies/<id>/trials/<n>/model/, models/compare/
]
