from django.apps import AppConfig


class TrainedModelsConfig(AppConfig):
    """Downloads, exports, evaluation, try-it and comparison of trained models (issue 6)."""

    name = "platform_web.trained_models"
    label = "trained_models"
    verbose_name = "Trained models"
