"""The dataset page's WebSocket: current ingestion status on connect, then every published update."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from platform_web.asgi import application
from platform_web.datasets.live import publish_dataset_progress
from platform_web.datasets.models import Dataset
from tests.live.builders import make_dataset, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def communicator(dataset_id, cookie: bytes | None, origin: bytes = b"http://localhost:8000"):
    headers = [(b"host", b"localhost:8000"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/datasets/{dataset_id}/", headers=headers)


def ingest_step(dataset_id, progress: float, status: str) -> None:
    """What ingestion does from the worker: save progress, then publish it."""
    try:
        dataset = Dataset.objects.get(pk=dataset_id)
        dataset.progress, dataset.status = progress, status
        dataset.save(update_fields=["progress", "status", "updated_at"])
        publish_dataset_progress(dataset)
    finally:
        connections.close_all()


async def test_status_on_connect_then_progress_until_ready(redis_layer, user):
    dataset = await sync_to_async(make_dataset)(user, status=Dataset.Status.PROCESSING, progress=0.1)
    comm = communicator(dataset.id, await sync_to_async(session_cookie)(user))
    assert (await comm.connect(timeout=10))[0]
    first = await comm.receive_json_from(timeout=10)

    await asyncio.to_thread(ingest_step, dataset.id, 0.5, Dataset.Status.PROCESSING)
    middle = await comm.receive_json_from(timeout=10)
    await asyncio.to_thread(ingest_step, dataset.id, 1.0, Dataset.Status.READY)
    last = await comm.receive_json_from(timeout=10)
    await comm.disconnect()

    assert (first["type"], first["status"], first["progress"]) == ("dataset", "processing", 0.1)
    assert (middle["status"], middle["progress"]) == ("processing", 0.5)
    assert (last["status"], last["status_label"], last["progress"]) == ("ready", "Ready", 1.0)


async def test_refused_for_another_user_and_anonymous(redis_layer, user, other_user):
    dataset = await sync_to_async(make_dataset)(user)
    for cookie in (await sync_to_async(session_cookie)(other_user), None):
        connected, _ = await communicator(dataset.id, cookie).connect(timeout=10)
        assert not connected


async def test_refused_for_a_foreign_origin(redis_layer, user):
    dataset = await sync_to_async(make_dataset)(user)
    comm = communicator(dataset.id, await sync_to_async(session_cookie)(user), origin=b"https://evil.example")
    connected, _ = await comm.connect(timeout=10)
    assert not connected
