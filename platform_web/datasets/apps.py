from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "platform_web.datasets"
    label = "datasets"
