from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "platform_web.core"
    label = "core"
    verbose_name = "Platform core"
