from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "platform_web.studies"
    label = "studies"
