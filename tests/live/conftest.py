"""Fixtures of the live-page suites."""

from __future__ import annotations

import pytest


@pytest.fixture
def redis_layer(settings, redis_url):
    """Channels on the real Redis (a database claimed for this run), as in production."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "capacity": 1500, "expiry": 60},
        }
    }
    return redis_url
