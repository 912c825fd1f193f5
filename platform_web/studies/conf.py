"""Tunables of the study machinery, read from environment variables (with laptop defaults).

They live here rather than in settings.py because only the studies app and its
worker tasks use them; a test platform overrides them through its environment.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# Optuna heartbeat of a running trial, and how long without one before the trial counts as lost.
# Optuna warns that very short intervals overload the storage (optuna #5470): keep >= 5 s.
HEARTBEAT_SECONDS = max(5, _int("STUDY_HEARTBEAT_SECONDS", 15))
GRACE_SECONDS = max(2 * HEARTBEAT_SECONDS, _int("STUDY_GRACE_SECONDS", 3 * HEARTBEAT_SECONDS))

# A slot task holds a lease in Redis while it runs; a redelivered or recovering task waits it out.
SLOT_LEASE_SECONDS = max(3, _int("STUDY_SLOT_LEASE_SECONDS", 15))

# How long a slot that has finished waits for an unreachable Redis (restarting) before its task retries.
REDIS_WAIT_SECONDS = _float("STUDY_REDIS_WAIT_SECONDS", 300)

# How often an interrupted trial (lost worker, training service stopped) is retried before it stays failed.
MAX_RETRIES_PER_TRIAL = _int("STUDY_MAX_RETRIES_PER_TRIAL", 2)
# A study whose last N trials all failed stops as failed instead of burning its budget on errors.
MAX_CONSECUTIVE_FAILURES = max(1, _int("STUDY_MAX_CONSECUTIVE_FAILURES", 4))

# Reading a trial's events: how long the training service may stay unreachable mid-trial before
# the trial fails (the study then waits for the service before it starts the next one).
TRAINER_RECONNECT_SECONDS = _float("STUDY_TRAINER_RECONNECT_SECONDS", 30)
# Between trials: how long to wait for an unreachable training service before the slot task gives
# up and is retried by Celery with backoff.
TRAINER_WAIT_SECONDS = _float("STUDY_TRAINER_WAIT_SECONDS", 600)
# How long a trial waits for a free slot on a busy training service (HTTP 429) before it fails.
TRAINER_BUSY_WAIT_SECONDS = _float("STUDY_TRAINER_BUSY_WAIT_SECONDS", 3600)
# Read timeout of the event stream; the service sends heartbeats, so silence this long means trouble.
EVENTS_READ_TIMEOUT_SECONDS = _float("STUDY_EVENTS_READ_TIMEOUT_SECONDS", 60)

# Longest a slot task may run (Celery hard limit); the Redis visibility timeout must exceed it.
TASK_TIME_LIMIT_SECONDS = _int("STUDY_TASK_TIME_LIMIT_SECONDS", 6 * 24 * 3600)

# A running study with no live slot and no event for this long shows as stalled (its workers are gone)
# and can be resumed from its page.
STALL_SECONDS = max(2 * SLOT_LEASE_SECONDS, _int("STUDY_STALL_SECONDS", 60))
