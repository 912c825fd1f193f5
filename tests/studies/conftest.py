"""Fixtures of the study tests."""

from __future__ import annotations

import pytest

from platform_web.studies import selectors, slot_queue
from tests.studies.factories import ARCHITECTURES, make_ready_dataset


@pytest.fixture(autouse=True)
def _no_trainer_lookups(monkeypatch):
    """Pages ask the training service for its device and architectures; in-process tests answer for it."""
    monkeypatch.setattr(
        selectors,
        "trainer_capabilities",
        lambda: {"device_type": "cpu", "device": "cpu", "architectures": ARCHITECTURES, "reachable": True},
    )


@pytest.fixture
def dataset(user, db):
    return make_ready_dataset(user)


@pytest.fixture
def enqueued(monkeypatch):
    """Slot tasks sent to the broker, as (study id, slot) pairs, instead of sending them."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(slot_queue, "send_slot", lambda study_id, slot: sent.append((study_id, slot)))
    return sent
