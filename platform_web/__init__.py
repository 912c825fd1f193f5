"""The web side of the platform: Django project, apps, Channels routing."""

# Load the Celery app whenever Django starts, so that tasks queued by name from
# services use the configured broker.
from platform_web.celery import app as celery_app

__all__ = ("celery_app",)
