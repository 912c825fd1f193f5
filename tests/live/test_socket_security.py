"""The sockets' doors: the page's own origin only (port included), and closed when the user logs out."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from platform_web.asgi import application
from platform_web.core.sockets import CLOSED_BY_LOGOUT, same_origin
from tests.live.builders import make_dataset, make_study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        ("http://localhost:8000", "localhost:8000", True),
        ("https://platform.example", "platform.example", True),
        ("https://platform.example:443", "platform.example", True),
        ("http://localhost:1234", "localhost:8000", False),  # another site on the same host
        ("http://localhost", "localhost:8000", False),
        ("https://evil.example", "localhost:8000", False),
        ("null", "localhost:8000", False),
        (None, "localhost:8000", False),
    ],
)
def test_same_origin_compares_host_and_port(origin, host, accepted):
    assert same_origin(origin, host) is accepted


def test_a_trusted_origin_is_accepted(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://proxy.example"]
    assert same_origin("https://proxy.example", "10.0.0.5:8000")


def signed_in(user) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(path: str, cookie: bytes, origin: bytes = b"http://localhost:8000") -> WebsocketCommunicator:
    headers = [(b"host", b"localhost:8000"), (b"origin", origin), (b"cookie", cookie)]
    return WebsocketCommunicator(application, path, headers=headers)


async def test_both_sockets_refuse_another_port_on_an_allowed_host(redis_layer, user):
    dataset = await sync_to_async(make_dataset)(user)
    study = await sync_to_async(make_study)(user)
    _client, cookie = await sync_to_async(signed_in)(user)
    for path in (f"/ws/datasets/{dataset.id}/", f"/ws/studies/{study.id}/"):
        connected, _ = await socket(path, cookie, origin=b"http://localhost:1234").connect(timeout=10)
        assert not connected
        comm = socket(path, cookie)
        accepted, _ = await comm.connect(timeout=10)
        assert accepted
        await comm.disconnect()


async def test_logging_out_closes_every_socket_of_the_session_and_no_other(redis_layer, user):
    dataset = await sync_to_async(make_dataset)(user)
    study = await sync_to_async(make_study)(user)
    client, cookie = await sync_to_async(signed_in)(user)
    _other_client, other_cookie = await sync_to_async(signed_in)(user)  # the same user on another device
    mine = [socket(f"/ws/datasets/{dataset.id}/", cookie), socket(f"/ws/studies/{study.id}/", cookie)]
    theirs = socket(f"/ws/studies/{study.id}/", other_cookie)
    for comm in [*mine, theirs]:
        connected, _ = await comm.connect(timeout=10)
        assert connected
        await comm.receive_json_from(timeout=10)  # the first status / snapshot
    response = await sync_to_async(client.post)(reverse("accounts:logout"))
    assert response.status_code == 302
    for comm in mine:
        closed = await comm.receive_output(timeout=10)
        assert closed == {"type": "websocket.close", "code": CLOSED_BY_LOGOUT}
    assert await theirs.receive_nothing(timeout=1)
    await theirs.disconnect()
