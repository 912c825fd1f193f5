"""Which errors of a slot task mean "a service is away" (retry later) rather than "the study is broken".

A database, Redis or training service that restarts surfaces in many shapes:
Django's DatabaseError, SQLAlchemy's errors from Optuna's storage (wrapped in
Optuna's StorageInternalError), redis-py's errors, and sometimes an unrelated
error that Optuna raises while handling one of those (an UnboundLocalError in
its optimize loop after a failed commit). The cause chain tells them apart.
"""

from __future__ import annotations

import redis
import sqlalchemy.exc
from django.db import DatabaseError
from optuna.exceptions import StorageInternalError

from platform_web.studies.trainer_client import TrainerUnavailable

OUTAGE_ERRORS = (
    TrainerUnavailable,
    DatabaseError,
    redis.RedisError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    StorageInternalError,
)


def is_outage(error: BaseException) -> bool:
    """True when `error`, or anything it was raised from or while handling, is a service being unreachable."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OUTAGE_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
