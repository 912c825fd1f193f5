from django.urls import path

from platform_web.datasets import views

app_name = "datasets"
urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("upload/", views.dataset_upload, name="upload"),
    path("sample/", views.dataset_sample, name="sample"),
    path("<uuid:dataset_id>/", views.dataset_detail, name="detail"),
    path("<uuid:dataset_id>/status.json", views.dataset_status, name="status"),
    path("<uuid:dataset_id>/thumbs/<str:name>", views.dataset_thumbnail, name="thumbnail"),
    path("<uuid:dataset_id>/delete/", views.dataset_delete, name="delete"),
]
