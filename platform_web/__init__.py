"""The web side of the platform: Django project, apps, Channels routing."""

# Load the Celery app whenever Django starts so that `task.delay_on_commit`
# from views and services uses the configured broker.
from worker.celery_app import app as celery_app

__all__ = ("celery_app",)
