from django.urls import path

from platform_web.studies import views

app_name = "studies"
urlpatterns = [
    path("", views.study_list, name="list"),
    path("new/<uuid:dataset_id>/", views.study_new, name="new"),
    path("<uuid:study_id>/", views.study_detail, name="detail"),
    path("<uuid:study_id>/snapshot.json", views.study_snapshot, name="snapshot"),
    path("<uuid:study_id>/cancel/", views.study_cancel, name="cancel"),
    path("<uuid:study_id>/resume/", views.study_resume, name="resume"),
    path("<uuid:study_id>/rerun-failed/", views.study_rerun, name="rerun"),
    path("<uuid:study_id>/trials/<int:number>/rerun/", views.study_rerun_trial, name="rerun_trial"),
    path("<uuid:study_id>/clone/", views.study_clone, name="clone"),
    path("<uuid:study_id>/delete/", views.study_delete, name="delete"),
]
