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
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    main_host = {"postgres", "redis", "web", "ingest-worker", "model-worker", "inference"}
    assert main_host | {"gpu", "minio", "minio-bucket"} == set(services)
    for name in main_host | {"gpu", "minio"}:
        assert "healthcheck" in services[name], f"{name} has no health check"
    for name in ("web", "ingest-worker", "model-worker", "inference", "gpu"):  # the fast path on the main host
        mounts = services[name]["volumes"]
        assert any(str(m).startswith("media:") for m in mounts), f"{name} does not share the media volume"


def test_the_gpu_pair_is_one_scalable_service_with_a_gpu_and_a_health_check_of_both_processes():
    gpu = yaml.safe_load(COMPOSE.read_text())["services"]["gpu"]
    assert gpu["command"][:3] == ["python", "manage.py", "gpu_pair"]
    reservation = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert reservation["driver"] == "nvidia" and reservation["capabilities"] == ["gpu"]
    # --scale gpu=N: nothing fixed per container; the pairs of a host share its GPUs out through the locks.
    assert "container_name" not in gpu and "ports" not in gpu
    assert gpu["environment"]["GPU_LOCK_DIR"] == "/locks" and any(str(m).endswith(":/locks") for m in gpu["volumes"])
    assert gpu["healthcheck"]["test"][2:] == ["manage.py", "gpu_pair", "--check", "--trainer-port", "8001"]
    env = gpu["environment"]
    assert (env["TRAINER_MAX_TRIALS"], env["WORKER_CONCURRENCY"]) == ("1", "1")  # one trial per GPU
    assert env["TRAINER_PLATFORM_URL"] == "${TRAINER_PLATFORM_URL:-http://web:8000}"
    assert gpu["init"] is True


def test_object_storage_is_optional_and_reaches_every_app_service():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    for name in ("minio", "minio-bucket"):
        assert services[name]["profiles"] == ["objectstore"]
    for name in ("web", "ingest-worker", "model-worker", "inference", "gpu"):
        env = services[name]["environment"]
        for setting in ("OBJECT_STORAGE_BUCKET", "OBJECT_STORAGE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                        "AWS_DEFAULT_REGION"):  # fmt: skip
            assert setting in env and env[setting] is None, f"{name}: {setting} should pass through only when set"


def compose_config(*files: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = ["docker-compose"]
    for file in files:
        argv += ["-f", str(file)]
    return subprocess.run([*argv, "config", "-q"], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


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


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose CLI not installed")
def test_compose_accepts_the_object_store_profile_and_the_gpu_host_override():
    env = dict(os.environ, SECRET_KEY="compose-check", TRAINER_TOKEN="compose-check", COMPOSE_PROFILES="objectstore",
               OBJECT_STORAGE_BUCKET="tune", OBJECT_STORAGE_URL="http://minio:9000")  # fmt: skip
    result = compose_config(COMPOSE, env=env)
    assert result.returncode == 0, result.stderr
    gpu_host = ROOT / "docs" / "gpu-host.yml"
    result = compose_config(COMPOSE, gpu_host, env=dict(env, TUNE_MAIN_HOST="main.internal"))
    assert result.returncode == 0, result.stderr
    refused = compose_config(COMPOSE, gpu_host, env={k: v for k, v in env.items() if k != "TUNE_MAIN_HOST"})
    assert refused.returncode != 0 and "set TUNE_MAIN_HOST" in refused.stderr


def test_the_gpu_host_override_points_the_pair_at_the_main_host_and_mounts_no_shared_volume():
    gpu = yaml.safe_load((ROOT / "docs" / "gpu-host.yml").read_text())["services"]["gpu"]
    assert "TUNE_MAIN_HOST" in gpu["environment"]["TRAINER_PLATFORM_URL"]
    assert gpu["volumes"] == ["gpu-data:/data/media"]  # replaces the main host's media volume (same target)


def test_docs_deploy_shows_the_gpu_host_override_as_it_is():
    shown = (ROOT / "docs" / "deploy.md").read_text()
    for line in (ROOT / "docs" / "gpu-host.yml").read_text().splitlines():
        assert line.strip() in shown, f"docs/deploy.md does not show this line of docs/gpu-host.yml: {line}"
