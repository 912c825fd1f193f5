"""Leases on a study's parallel slots, kept in Redis while a slot task runs.

A slot task takes the lease of (study, slot) before it runs trials and renews it
in a background thread. A redelivered copy of the task (Redis redelivers an
unacknowledged task after the visibility timeout; a killed pool process's task
comes back at once) finds the lease held and waits for it to expire instead of
running the same slot twice. The lease also tells who is alive: a running trial
of a slot whose lease this task now holds was left behind by a dead worker.
"""

from __future__ import annotations

import logging
import threading
import uuid

import redis
from django.conf import settings

from platform_web.studies import conf

log = logging.getLogger(__name__)

# Ours: extend it (1). Gone (it expired while Redis was away, or Redis restarted without it): take it again (2).
# Someone else's: 0, the lease is lost.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
if not holder then redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 2 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


def _redis() -> redis.Redis:
    url = getattr(settings, "CELERY_BROKER_URL", None) or settings.REDIS_URL
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)


def lease_key(study_id, slot: int) -> str:
    return f"studies:slot:{study_id}:{slot}"


def live_slots(study_id, parallel: int) -> list[int]:
    """The slots of the study whose task is alive (holds its lease) right now."""
    client = _redis()
    try:
        values = client.mget([lease_key(study_id, s) for s in range(max(parallel, 1))])
    finally:
        client.close()
    return [slot for slot, value in enumerate(values) if value is not None]


class SlotLease:
    """The lease of one slot: `acquire()`, renewed every third of its lifetime until `release()`."""

    def __init__(self, study_id, slot: int, seconds: int | None = None) -> None:
        self.key = lease_key(study_id, slot)
        self.seconds = seconds or conf.SLOT_LEASE_SECONDS
        self.token = uuid.uuid4().hex
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = _redis()

    def acquire(self) -> bool:
        """Take the lease if nobody holds it; start renewing it."""
        if not self._client.set(self.key, self.token, nx=True, ex=self.seconds):
            return False
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self.key}", daemon=True)
        self._thread.start()
        return True

    def _renew_loop(self) -> None:
        unreachable = False
        while not self._stop.wait(self.seconds / 3):
            try:
                answer = self._client.eval(_RENEW, 1, self.key, self.token, self.seconds)
            except redis.RedisError as e:
                # Redis away (restarting, cut off): nobody else can take the lease meanwhile; keep trying.
                if not unreachable:
                    log.warning("cannot renew %s (%s); retrying every %.1f s", self.key, e, self.seconds / 3)
                unreachable = True
                continue
            if unreachable:
                log.info("Redis answers again; %s %s", self.key, "renewed" if answer == 1 else "taken again")
                unreachable = False
            if not answer:
                log.warning("lease %s was taken over; this slot stops after its trial", self.key)
                self.lost.set()
                return

    def release(self) -> None:
        """Stop renewing and give the lease back (only if still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._client.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError:
            log.warning("could not release %s; it expires in %s s", self.key, self.seconds)
        finally:
            self._client.close()
