from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "platform_web.core"
    label = "core"
    verbose_name = "Platform core"

    def ready(self) -> None:
        from platform_web.core import sockets  # noqa: F401  # registers the logout receiver that closes sockets
