from django.urls import path

from platform_web.datasets import views

app_name = "datasets"
urlpatterns = [
    path("", views.dataset_list, name="list"),
]
