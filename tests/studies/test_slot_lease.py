"""A slot's lease rides out Redis going away and coming back, and is lost only to another holder."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from platform_web.core.launcher import free_port
from platform_web.studies.slots import SlotLease, lease_key


@pytest.fixture(autouse=True)
def _leases_in_test_redis(settings, redis_url):
    settings.CELERY_BROKER_URL = redis_url


def wait_until(check, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_lease_that_vanished_with_a_redis_restart_is_taken_again(redis_url):
    study = uuid.uuid4()
    lease = SlotLease(study, 0, seconds=3)
    server = redis.Redis.from_url(redis_url)
    assert lease.acquire()
    try:
        server.delete(lease_key(study, 0))  # what a restart without the key leaves
        assert wait_until(lambda: server.get(lease_key(study, 0)) == lease.token.encode())
        assert not lease.lost.is_set()
    finally:
        lease.release()
    assert server.get(lease_key(study, 0)) is None


def test_redis_unreachable_for_longer_than_the_lease_does_not_lose_it(redis_url):
    study = uuid.uuid4()
    lease = SlotLease(study, 0, seconds=3)
    assert lease.acquire()
    reachable = lease._client
    try:
        lease._client = redis.Redis(host="127.0.0.1", port=free_port("127.0.0.1"), socket_connect_timeout=0.2)
        time.sleep(4)  # more than the lease's lifetime without a renewal
        assert not lease.lost.is_set()
        lease._client = reachable
        assert wait_until(lambda: reachable.get(lease_key(study, 0)) == lease.token.encode())
        assert not lease.lost.is_set()
    finally:
        lease._client = reachable
        lease.release()


def test_a_lease_someone_else_holds_is_lost(redis_url):
    study = uuid.uuid4()
    lease = SlotLease(study, 0, seconds=3)
    server = redis.Redis.from_url(redis_url)
    assert lease.acquire()
    try:
        server.set(lease_key(study, 0), "another-task", ex=30)
        assert wait_until(lease.lost.is_set)
        assert server.get(lease_key(study, 0)) == b"another-task"
    finally:
        lease.release()
    assert server.get(lease_key(study, 0)) == b"another-task"  # release gives back only its own lease
