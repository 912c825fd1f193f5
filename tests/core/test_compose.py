"""docker-compose.yml is accepted by a real compose CLI (no Docker engine needed for `config`)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def test_compose_file_describes_the_multi_host_shape():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert {"postgres", "redis", "web", "worker", "ingest-worker", "model-worker", "trainer", "inference"} <= set(
        services
    )
    for name in services:
        assert "healthcheck" in services[name], f"{name} has no health check"
    gpu = services["trainer"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    for name in ("web", "worker", "ingest-worker", "model-worker", "trainer", "inference"):
        mounts = services[name]["volumes"]
        assert any(str(m).startswith("media:") for m in mounts), f"{name} does not share the media volume"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose CLI not installed")
def test_compose_cli_accepts_the_file():
    env = dict(os.environ, SECRET_KEY="compose-check", TRAINER_TOKEN="compose-check")
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose CLI not installed")
def test_compose_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "TRAINER_TOKEN")}
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "set TRAINER_TOKEN" in result.stderr or "set SECRET_KEY" in result.stderr


def test_the_inference_service_is_its_own_service_that_the_web_app_asks():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    inference = services["inference"]
    assert "trainer_api.inference_app:app" in inference["command"]
    assert "8002" in str(inference["healthcheck"]["test"])
    assert services["web"]["environment"]["INFERENCE_URL"] == "http://inference:8002"
    assert "deploy" not in inference  # no GPU reserved: predictions run on the CPU beside training
