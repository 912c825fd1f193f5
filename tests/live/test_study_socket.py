"""The study WebSocket through the whole ASGI application (origin check, sessions, routing) on real Redis."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from platform_web.asgi import application
from platform_web.studies import events
from platform_web.studies.events import record_event
from tests.live.builders import make_study, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ORIGIN = b"http://127.0.0.1:8000"


def communicator(study_id, cookie: bytes | None, *, origin: bytes = ORIGIN, after: int | None = None):
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie))
    path = f"/ws/studies/{study_id}/" + (f"?after={after}" if after is not None else "")
    return WebsocketCommunicator(application, path, headers=headers)


def record_from_worker(study_id, type: str, payload: dict) -> int:
    """record_event as a Celery worker calls it: from a plain thread with its own DB connection."""
    try:
        return record_event(study_id=study_id, type=type, payload=payload).seq
    finally:
        connections.close_all()


async def record(study_id, type: str, payload: dict) -> int:
    return await asyncio.to_thread(record_from_worker, study_id, type, payload)


async def receive_events(comm, count: int) -> list[dict]:
    """Collect `count` events from `events` messages."""
    received: list[dict] = []
    while len(received) < count:
        message = await comm.receive_json_from(timeout=10)
        assert message["type"] == "events", message
        received.extend(message["events"])
    return received


@pytest.fixture
def owner_setup(redis_layer, user):
    study = make_study(user, trials=2)
    for number in range(2):
        record_event(study_id=study.id, type="trial_completed", payload={"trial": number, "value": 0.5})
    return study, session_cookie(user)


async def test_snapshot_on_connect(owner_setup):
    study, cookie = owner_setup
    comm = communicator(study.id, cookie)
    connected, _ = await comm.connect(timeout=10)
    assert connected
    snapshot = await comm.receive_json_from(timeout=10)
    await comm.disconnect()

    assert snapshot["type"] == "snapshot"
    assert snapshot["seq"] == 2
    assert snapshot["study"]["name"] == "tiny search"
    assert [t["number"] for t in snapshot["trials"]] == [0, 1]
    assert snapshot["trials"][1]["epochs"] == [
        [1, pytest.approx(0.45), pytest.approx(1.0)],
        [2, pytest.approx(0.5), pytest.approx(0.5)],
        [3, pytest.approx(0.55), pytest.approx(1 / 3)],
    ]
    assert snapshot["best_so_far"] == [[0, 0.5], [1, pytest.approx(0.54)]]


async def test_live_event_arrives_after_snapshot(owner_setup):
    study, cookie = owner_setup
    comm = communicator(study.id, cookie)
    assert (await comm.connect(timeout=10))[0]
    snapshot = await comm.receive_json_from(timeout=10)

    seq = await record(study.id, "epoch", {"trial": 2, "epoch": 1, "val_accuracy": 0.61, "val_loss": 0.9})
    [event] = await receive_events(comm, 1)
    await comm.disconnect()

    assert seq == snapshot["seq"] + 1
    assert event["seq"] == seq
    assert event["type"] == "epoch"
    assert event["payload"]["val_accuracy"] == 0.61


async def test_reconnect_with_last_seq_gets_missed_events_in_order(owner_setup):
    study, cookie = owner_setup
    first = communicator(study.id, cookie)
    assert (await first.connect(timeout=10))[0]
    last_seen = (await first.receive_json_from(timeout=10))["seq"]
    await first.disconnect()

    missed = [await record(study.id, "epoch", {"trial": 2, "epoch": e}) for e in (1, 2, 3)]

    again = communicator(study.id, cookie, after=last_seen)
    assert (await again.connect(timeout=10))[0]
    replayed = await receive_events(again, 3)
    live = await record(study.id, "trial_completed", {"trial": 2, "value": 0.7})
    [after_replay] = await receive_events(again, 1)
    assert await again.receive_nothing(timeout=0.3)
    await again.disconnect()

    assert [e["seq"] for e in replayed] == missed == [last_seen + 1, last_seen + 2, last_seen + 3]
    assert [e["payload"]["epoch"] for e in replayed] == [1, 2, 3]
    assert after_replay["seq"] == live == last_seen + 4


async def test_event_lost_by_the_channel_layer_is_filled_from_the_database(owner_setup, monkeypatch):
    study, cookie = owner_setup
    comm = communicator(study.id, cookie)
    assert (await comm.connect(timeout=10))[0]
    start = (await comm.receive_json_from(timeout=10))["seq"]

    real_publish = events.publish
    monkeypatch.setattr(events, "publish", lambda study_id, message: None)  # Redis drops this one
    await record(study.id, "epoch", {"trial": 2, "epoch": 1})
    monkeypatch.setattr(events, "publish", real_publish)
    await record(study.id, "epoch", {"trial": 2, "epoch": 2})

    received = await receive_events(comm, 2)
    await comm.disconnect()
    assert [e["seq"] for e in received] == [start + 1, start + 2]


async def test_sync_request_delivers_a_dropped_last_event(owner_setup, monkeypatch):
    study, cookie = owner_setup
    comm = communicator(study.id, cookie)
    assert (await comm.connect(timeout=10))[0]
    start = (await comm.receive_json_from(timeout=10))["seq"]
    monkeypatch.setattr(events, "publish", lambda study_id, message: None)
    await record(study.id, "study_state", {"state": "completed"})
    assert await comm.receive_nothing(timeout=0.3)

    await comm.send_json_to({"action": "sync"})
    [event] = await receive_events(comm, 1)
    await comm.send_json_to({"action": "sync"})
    assert await comm.receive_nothing(timeout=0.3)  # nothing new: no answer
    await comm.disconnect()
    assert (event["seq"], event["type"]) == (start + 1, "study_state")


async def test_refused_for_anonymous(owner_setup):
    study, _ = owner_setup
    comm = communicator(study.id, None)
    connected, _ = await comm.connect(timeout=10)
    assert not connected


async def test_refused_for_another_user(owner_setup, other_user):
    study, _ = owner_setup
    cookie = await sync_to_async(session_cookie)(other_user)
    comm = communicator(study.id, cookie)
    connected, _ = await comm.connect(timeout=10)
    assert not connected


async def test_refused_for_a_foreign_origin(owner_setup):
    study, cookie = owner_setup
    comm = communicator(study.id, cookie, origin=b"https://evil.example")
    connected, _ = await comm.connect(timeout=10)
    assert not connected


async def test_importance_on_request(redis_layer, user):
    study = await sync_to_async(make_study)(user, trials=6)
    comm = communicator(study.id, await sync_to_async(session_cookie)(user))
    assert (await comm.connect(timeout=10))[0]
    snapshot = await comm.receive_json_from(timeout=10)
    await comm.send_json_to({"action": "importance"})
    answer = await comm.receive_json_from(timeout=10)
    await comm.disconnect()

    assert snapshot["importance_based_on"] == 6
    assert set(snapshot["importance"]) == {"learning_rate", "optimizer"}
    assert answer == {"type": "importance", "importance": snapshot["importance"], "based_on": 6}
