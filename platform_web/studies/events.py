"""Live events of a study: written to the database first, then published to its channel group.

The channel layer is at-most-once, so the database is the source of truth: every
event gets the next per-study sequence number (no gaps), and a client that
reconnects asks for everything after the last number it saw.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from platform_web.studies.models import Study, StudyEvent

log = logging.getLogger(__name__)


def study_group(study_id) -> str:
    """Channel group name of one study's live page."""
    return f"study-{study_id}"


def event_message(event: StudyEvent) -> dict:
    """The JSON a browser receives for one event."""
    return {"seq": event.seq, "type": event.type, "payload": event.payload, "at": event.created_at.isoformat()}


def record_event(*, study_id, type: str, payload: dict) -> StudyEvent:
    """Store the next event of the study and publish it once the transaction commits."""
    with transaction.atomic():
        # The UPDATE takes the row's write lock first (PostgreSQL row lock, SQLite
        # write lock), so concurrent writers get consecutive numbers.
        Study.objects.filter(pk=study_id).update(last_event_seq=F("last_event_seq") + 1)
        seq = Study.objects.values_list("last_event_seq", flat=True).get(pk=study_id)
        event = StudyEvent.objects.create(study_id=study_id, seq=seq, type=type, payload=payload)
        transaction.on_commit(lambda: publish(study_id, event_message(event)))
    return event


def publish(study_id, message: dict) -> None:
    """Send one event to the study's group; a failure is logged, never raised (the DB has it)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(study_group(study_id), {"type": "study.event", "event": message})
    except Exception:  # noqa: BLE001 - Redis down must not fail a trial; clients catch up from the DB
        log.warning("could not publish event %s of study %s", message.get("seq"), study_id, exc_info=True)


def events_after(study_id, seq: int, limit: int = 5000) -> list[dict]:
    """Events with a sequence number above `seq`, in order (what a reconnecting client missed)."""
    events = StudyEvent.objects.filter(study_id=study_id, seq__gt=seq).order_by("seq")[:limit]
    return [event_message(e) for e in events]
