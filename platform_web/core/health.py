"""Health of every part the platform needs, for /healthz and the start command."""

from __future__ import annotations

import httpx
import redis
from django.conf import settings
from django.db import connection

from platform_web.celery import app


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def check_redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def check_worker() -> str:
    replies = app.control.ping(timeout=1.5, limit=1)  # returns at the first reply
    if not replies:
        raise RuntimeError("no Celery worker answered a ping")
    return "ok"


def check_trainer() -> str:
    response = httpx.get(f"{settings.TRAINER_URL}/v1/health", timeout=3)
    response.raise_for_status()
    return "ok"


def check_inference() -> str:
    response = httpx.get(f"{settings.INFERENCE_URL}/v1/health", timeout=3)
    response.raise_for_status()
    return "ok"


CHECKS = {"database": check_database, "redis": check_redis, "worker": check_worker, "trainer": check_trainer,
          "inference": check_inference}  # fmt: skip


def platform_health() -> tuple[bool, dict[str, str]]:
    """Run every check; each part is "ok" or "error: <why>". True only when all are ok."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as e:  # noqa: BLE001 - any failure is reported, never raised
            results[name] = f"error: {e}"
    return all(v == "ok" for v in results.values()), results
