"""URLs of trained models: everything hangs off a study's trial, so pages and files say whose they are."""

from django.urls import path, register_converter

from platform_web.trained_models import job_views, views


class FileKindConverter:
    """The download formats: `.pth`, `.safetensors`, and the on-request exports (onnx_int8 first: onnx is its prefix)."""

    regex = "pth|safetensors|torchscript|onnx_int8|onnx"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(FileKindConverter, "filekind")

app_name = "trained_models"
trial = "studies/<uuid:study_id>/trials/<int:number>/"
urlpatterns = [
    path(f"{trial}model/", views.model_page, name="model"),
    path(f"{trial}download.<filekind:kind>", views.download, name="download"),
    path(f"{trial}export/<filekind:kind>", job_views.export, name="export"),
    path(f"{trial}evaluation/", job_views.evaluation, name="evaluation"),
    path(f"{trial}misclassified/<int:index>.jpg", views.misclassified_image, name="misclassified_image"),
    path(f"{trial}predict", views.predict, name="predict"),
    path("studies/<uuid:study_id>/best/", views.best_model, name="best"),
    path("studies/<uuid:study_id>/best/download.<filekind:kind>", views.best_download, name="best_download"),
    path("models/compare/", views.compare, name="compare"),
]
