"""Fixtures shared by every suite: temporary media, users, Redis, the running platform."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from tests.object_store_server import object_store_server
from tests.platform_processes import start_platform

REAL_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _claim_redis_db() -> tuple[str, redis.Redis, str] | None:
    """Claim a Redis database number (1-15) no other test run is using right now."""
    try:
        admin = redis.Redis.from_url(f"{REAL_REDIS}/0", socket_connect_timeout=1)
        admin.ping()
    except (redis.RedisError, OSError):
        return None
    token = uuid.uuid4().hex
    for db in range(1, 16):
        if admin.set(f"platform-tests:db:{db}", token, nx=True, ex=3 * 3600):
            url = f"{REAL_REDIS}/{db}"
            redis.Redis.from_url(url).flushdb()
            return url, admin, f"platform-tests:db:{db}"
    return None


@pytest.fixture(scope="session")
def redis_url():
    """URL of a Redis database reserved for this test run (the real Redis), flushed before and after."""
    claimed = _claim_redis_db()
    if claimed is None:
        pytest.skip("No Redis answers at 127.0.0.1:6379 (or every test database is in use)")
    url, admin, key = claimed
    yield url
    redis.Redis.from_url(url).flushdb()
    admin.delete(key)


@pytest.fixture(autouse=True)
def fresh_cache():
    """The per-process cache (sign-up counts, capabilities) starts empty in every test."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Every test writes files under its own temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINER_DATA_DIR = settings.MEDIA_ROOT / "trainer"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    for folder in (settings.MEDIA_ROOT, settings.TRAINER_DATA_DIR, tmp_path / "upload-tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def no_shared_weights(settings, tmp_path, monkeypatch):
    """Pretrained weights are looked up only in this test's folders, never in var/ or ~/.cache/torch."""
    settings.TRAINER_WEIGHTS_DIR = tmp_path / "weights"
    monkeypatch.setenv("TRAINER_WEIGHTS_DIR", str(settings.TRAINER_WEIGHTS_DIR))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("TRAINER_DOWNLOAD_WEIGHTS", raising=False)
    return settings.TRAINER_WEIGHTS_DIR


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="a-long-test-password")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="mallory", password="a-long-test-password")


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture(scope="module")
def running_platform(tmp_path_factory, redis_url):
    """The whole platform as `make up` runs it, on free ports, in a temporary folder."""
    redis.Redis.from_url(redis_url).flushdb()  # no task left over from an earlier module
    platform = start_platform(tmp_path_factory.mktemp("platform"), redis_url)
    yield platform
    platform.supervisor.stop_all()


@pytest.fixture(scope="module")
def object_store_env():
    """A real S3 endpoint (moto's server, tests/object_store_server.py) with its bucket, for one module.

    The environment dict {OBJECT_STORAGE_BUCKET, OBJECT_STORAGE_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_DEFAULT_REGION}: for `ObjectStore.from_environment` or the environment of processes the test starts.
    """
    with object_store_server() as env:
        yield env
