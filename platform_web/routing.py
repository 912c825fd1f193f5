"""WebSocket routes (Channels). Each app adds its consumers here."""

from django.urls import path

from platform_web.datasets.consumers import DatasetConsumer
from platform_web.studies.consumers import StudyConsumer

websocket_urlpatterns: list = [
    path("ws/studies/<uuid:study_id>/", StudyConsumer.as_asgi()),
    path("ws/datasets/<uuid:dataset_id>/", DatasetConsumer.as_asgi()),
]
