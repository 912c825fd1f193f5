"""What every WebSocket of the platform shares: same-origin handshakes and closing when the session ends.

- `SameOriginValidator`: a handshake is accepted only when its Origin is the page's
  own origin (scheme aside, host AND port equal to the Host header) or one of
  CSRF_TRUSTED_ORIGINS. Channels' AllowedHostsOriginValidator ignores the port, so
  another site on an allowed host (`http://localhost:1234`) could open a socket
  with the user's cookie.
- `SessionSocketMixin`: a consumer joins its session's group; logging out (in any
  tab) sends `session.ended` to that group and every socket of the session closes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

CLOSED_BY_LOGOUT = 4001  # the close code the pages see when the user logged out


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a handshake's Origin is the page's own origin (or a trusted one)."""
    if not origin or not host:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = {"http": 80, "https": 443}[parts.scheme]
    origin_host = f"{parts.hostname}:{parts.port or default}"
    page = urlsplit(f"//{host}")
    return origin_host == f"{page.hostname}:{page.port or default}"


class SameOriginValidator:
    """ASGI middleware for WebSocket routes: refuses a handshake from any other origin (HTTP 403)."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if same_origin(_header(scope, b"origin"), _header(scope, b"host")):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def session_group(session_key: str) -> str:
    return f"session-{session_key}"


class SessionSocketMixin:
    """For AsyncJsonWebsocketConsumer subclasses: call `join_session()` after accept, `leave_session()` on disconnect."""

    async def join_session(self) -> None:
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        self.session_group = session_group(key) if key else None
        if self.session_group:
            await self.channel_layer.group_add(self.session_group, self.channel_name)

    async def leave_session(self) -> None:
        if getattr(self, "session_group", None):
            await self.channel_layer.group_discard(self.session_group, self.channel_name)

    async def session_ended(self, message) -> None:
        await self.close(code=CLOSED_BY_LOGOUT)


@receiver(user_logged_out)
def close_the_sessions_sockets(sender, request, user, **kwargs) -> None:
    """Sent by logout before the session is flushed: its key still names the group."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    layer = get_channel_layer()
    if key and layer is not None:
        async_to_sync(layer.group_send)(session_group(key), {"type": "session.ended"})
