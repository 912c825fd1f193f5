from django.apps import AppConfig


class ApiTokensConfig(AppConfig):
    name = "platform_web.api_tokens"
    label = "api_tokens"
    verbose_name = "API tokens"
