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
from tests.datasets.builders import dataset_zip
from tests.live.builders import make_dataset, session_cookie
from worker.ingest import job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def communicator(dataset_id, cookie: bytes | None, origin: bytes = b"http://localhost:8000"):
    headers = [(b"host", b"localhost:8000"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/datasets/{dataset_id}/", headers=headers)


def ingest_step(dataset_id, progress: float, status: str) -> None:
    """What ingestion does from the worker: save progress, then publish it."""
    try:
        Dataset.objects.filter(pk=dataset_id).update(progress=progress, status=status, progress_message="Decoding")
        publish_dataset_progress(dataset_id)
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
    assert (middle["status"], middle["progress"], middle["message"]) == ("processing", 0.5, "Decoding")
    assert (last["status"], last["status_label"], last["progress"]) == ("ready", "Ready", 1.0)
    assert last["url"] == f"/datasets/{dataset.id}/"


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


async def test_real_ingestion_reports_progress_then_ready(redis_layer, user, settings, tmp_path):

    settings.INGEST_PROCESSES = 1
    dataset = await sync_to_async(make_dataset)(user, status=Dataset.Status.PENDING, classes=[], image_count=0)
    dataset.upload_path.parent.mkdir(parents=True, exist_ok=True)
    dataset_zip(dataset.upload_path, per_class=6)
    comm = communicator(dataset.id, await sync_to_async(session_cookie)(user))
    assert (await comm.connect(timeout=10))[0]
    assert (await comm.receive_json_from(timeout=10))["status"] == "pending"

    def ingest():
        try:
            return job.ingest_dataset(dataset_id=dataset.id)
        finally:
            connections.close_all()

    assert await asyncio.to_thread(ingest) == "ready"
    seen = []
    while not seen or seen[-1]["status"] not in ("ready", "failed"):
        seen.append(await comm.receive_json_from(timeout=10))
    await comm.disconnect()
    assert seen[-1]["status"] == "ready" and seen[-1]["progress"] == 1.0
    assert seen[-1]["message"] == "12 images in 2 classes"
