from django.urls import path

from platform_web.studies import api

app_name = "api"
urlpatterns = [
    path("studies/", api.studies, name="studies"),
    path("studies/<uuid:study_id>/", api.study, name="study"),
    path("studies/<uuid:study_id>/trials/", api.study_trials, name="study_trials"),
]
