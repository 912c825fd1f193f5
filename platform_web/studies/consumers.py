"""The study page's WebSocket: a snapshot (or the missed events) from the database, then live events.

Messages to the browser:
- `{"type": "snapshot", "seq": N, "study": ..., "trials": [...], ...}` (see live.study_snapshot)
- `{"type": "events", "events": [{seq, type, payload, at}, ...]}` events after the client's seq
- `{"type": "importance", "importance": {...} | null, "based_on": n}` on request

Messages from the browser: `{"action": "importance"}`, `{"action": "snapshot"}` and
`{"action": "sync"}` (sent every few seconds by the page: answered with any stored
event it has not been sent, so even the last event of a burst that the channel
layer dropped reaches it).

Every event goes out at most once per connection and in seq order: the
consumer joins the group before it reads the database, skips live copies it
already sent, and fills any hole in the numbering from the database (the
channel layer is at-most-once and two workers may publish out of order).
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from platform_web.core.sockets import SessionSocketMixin
from platform_web.studies import live
from platform_web.studies.events import events_after, study_group
from platform_web.studies.models import Study

# A client further behind than this gets a fresh snapshot instead of the events it missed.
REPLAY_LIMIT = 2000


@database_sync_to_async
def _can_watch(user, study_id) -> bool:
    return live.owned_study(user, study_id) is not None


@database_sync_to_async
def _last_seq(study_id) -> int:
    return Study.objects.values_list("last_event_seq", flat=True).get(pk=study_id)


@database_sync_to_async
def _snapshot(study_id) -> dict:
    return live.study_snapshot(study_id)


@database_sync_to_async
def _events_after(study_id, seq: int) -> list[dict]:
    return events_after(study_id, seq, limit=REPLAY_LIMIT)


@database_sync_to_async
def _importance(study_id) -> dict:
    return live.param_importance(study_id)


def _after_param(scope) -> int | None:
    """The `?after=<seq>` of a reconnecting client, or None for a first connection."""
    for pair in scope.get("query_string", b"").decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        if name == "after" and value.isdigit():
            return int(value)
    return None


class StudyConsumer(SessionSocketMixin, AsyncJsonWebsocketConsumer):
    """`/ws/studies/<uuid>/`: the owner's live view of one study."""

    async def connect(self) -> None:
        self.study_id = self.scope["url_route"]["kwargs"]["study_id"]
        if not await _can_watch(self.scope.get("user"), self.study_id):
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.group = study_group(self.study_id)
        self.sent_seq = 0
        # Join first, then read: an event committed in between is in the read AND
        # queued on our channel; study_event drops the copy by its seq.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.join_session()
        after = _after_param(self.scope)
        last = await _last_seq(self.study_id)
        if after is None or after > last or last - after > REPLAY_LIMIT:
            await self.send_snapshot()
        else:
            self.sent_seq = after
            await self.catch_up()

    async def disconnect(self, code) -> None:
        await self.leave_session()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action == "sync":
            await self.catch_up()
        elif action == "importance":
            answer = await _importance(self.study_id)
            await self.send_json({"type": "importance", **answer})
        elif action == "snapshot":
            await self.send_snapshot()

    async def send_snapshot(self) -> None:
        snapshot = await _snapshot(self.study_id)
        self.sent_seq = max(self.sent_seq, snapshot["seq"])
        await self.send_json(snapshot)

    async def catch_up(self) -> None:
        """Send every stored event after the last one this client has, in order."""
        events = [e for e in await _events_after(self.study_id, self.sent_seq) if e["seq"] > self.sent_seq]
        if events:
            self.sent_seq = events[-1]["seq"]
            await self.send_json({"type": "events", "events": events})

    async def dispatch(self, message) -> None:
        # Channels runs close_old_connections() in the single thread-sensitive
        # executor before EVERY handler; for live events (one per event and
        # watcher) that serialised hop cost about half the server's CPU in
        # bench/live. study_event reaches the database only through
        # database_sync_to_async, which closes stale connections itself.
        if message["type"] == "study.event":
            await self.study_event(message)
        else:
            await super().dispatch(message)

    async def study_event(self, message) -> None:
        """A live event from the group (published by record_event after its commit)."""
        event = message["event"]
        seq = event["seq"]
        if seq <= self.sent_seq:
            return  # already sent from the database
        if seq != self.sent_seq + 1:
            await self.catch_up()  # a hole: the database has the missing ones (and this one)
            return
        self.sent_seq = seq
        await self.send_json({"type": "events", "events": [event]})
