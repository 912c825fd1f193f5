"""The prediction API (token-authenticated, JSON): `/api/v1/...`."""

from django.urls import path

from platform_web.trained_models import api_views

app_name = "api_v1"
urlpatterns = [
    path("studies/<uuid:study_id>/trials/<int:number>/predict", api_views.predict, name="predict"),
]
