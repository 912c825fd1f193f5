"""Fixtures of the study tests."""

from __future__ import annotations

import os
import uuid

import psycopg
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


@pytest.fixture(scope="module")
def postgres_url():
    """A database of its own on the PostgreSQL server at DATABASE_URL (make test's PostgreSQL pass), dropped after."""
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgresql://...)")
    name = f"studies_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(base_url, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    yield base_url.rsplit("/", 1)[0] + f"/{name}"
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()
