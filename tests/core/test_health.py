import pytest

from platform_web.core import health

pytestmark = pytest.mark.django_db


def test_healthz_is_503_and_names_the_part_that_is_down(client, settings, monkeypatch):
    settings.TRAINER_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    monkeypatch.setattr(health, "check_worker", lambda: "ok")
    monkeypatch.setitem(health.CHECKS, "worker", lambda: "ok")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["trainer"].startswith("error:")
    assert body["status"] == "degraded"


def test_healthz_is_200_when_every_part_answers(client, monkeypatch):
    for name in ("redis", "worker", "trainer", "inference"):
        monkeypatch.setitem(health.CHECKS, name, lambda: "ok")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok", "worker": "ok", "trainer": "ok",
                               "inference": "ok"}  # fmt: skip


def test_healthz_names_the_inference_service_when_it_is_down(client, settings, monkeypatch):
    settings.INFERENCE_URL = "http://127.0.0.1:9"
    for name in ("redis", "worker", "trainer"):
        monkeypatch.setitem(health.CHECKS, name, lambda: "ok")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["inference"].startswith("error:") and response.json()["trainer"] == "ok"
