from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "platform_web.accounts"
    label = "accounts"
