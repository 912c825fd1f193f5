"""Upload through HTTP to the real platform (daphne + Celery worker on Redis) and watch ingestion finish."""

from __future__ import annotations

import os
import re
import socket
import time
from urllib.parse import urlparse

import httpx
import pytest

from tests.datasets.builders import class_folders, dataset_zip, write_zip
from tests.platform_processes import wait_for

pytestmark = [pytest.mark.slow]


def signed_up_client(platform, username: str) -> httpx.Client:
    """An HTTP client logged in as a freshly signed-up user, as a browser would do it."""
    client = httpx.Client(base_url=platform.url, timeout=30)
    page = client.get("/accounts/signup/").text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        "/accounts/signup/",
        data={"csrfmiddlewaretoken": token, "username": username, "email": f"{username}@example.com",
              "password1": "ingest-me-please-42", "password2": "ingest-me-please-42"},
    )  # fmt: skip
    assert response.status_code == 302, response.text[:500]
    return client


def upload(client: httpx.Client, path, name: str) -> httpx.Response:
    with open(path, "rb") as f:
        return client.post(
            "/datasets/upload/",
            data={"name": name},
            files={"file": (path.name, f, "application/zip")},
            headers={"X-Requested-With": "XMLHttpRequest", "X-CSRFToken": client.cookies["csrftoken"]},
        )


def final_status(client: httpx.Client, url: str) -> dict:
    def finished():
        status = client.get(url + "status.json").json()
        return status if status["status"] in ("ready", "failed") else None

    return wait_for(finished, timeout=90, interval=0.5, message="ingestion to finish")


def test_upload_ingest_and_show_through_the_worker(running_platform, tmp_path):
    client = signed_up_client(running_platform, "e2e-user")
    response = upload(client, dataset_zip(tmp_path / "shapes.zip", ("circle", "square", "star"), per_class=6), "")
    assert response.status_code == 201, response.text
    url = response.json()["url"]
    status = final_status(client, url)
    assert status["status"] == "ready", status
    assert status["message"] == "18 images in 3 classes"
    page = client.get(url).text
    assert "shapes" in page and 'id="class-chart"' in page
    thumb = re.search(r'src="(/datasets/[^"]+/thumbs/[^"]+\.jpg)"', page).group(1)
    assert client.get(thumb).headers["content-type"] == "image/jpeg"
    media = running_platform.var_dir / "media"
    assert os.listdir(media / "uploads") == []  # the zip is removed once ingested
    assert os.listdir(running_platform.var_dir / "tmp") == []  # no upload temp file left


def test_a_bad_zip_fails_with_its_reason(running_platform, tmp_path):
    client = signed_up_client(running_platform, "e2e-bad")
    bad = write_zip(tmp_path / "one-class.zip", class_folders(("lonely",), per_class=3))
    response = upload(client, bad, "bad")
    status = final_status(client, response.json()["url"])
    assert status["status"] == "failed" and "Found only one class folder (“lonely”)" in status["message"]


def test_an_interrupted_upload_leaves_nothing(running_platform, tmp_path):
    client = signed_up_client(running_platform, "e2e-cut")
    before = client.get("/datasets/").text.count("<tr>")
    host = urlparse(running_platform.url)
    boundary = "cutcutcut"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    request = (
        f"POST /datasets/upload/ HTTP/1.1\r\nHost: {host.hostname}:{host.port}\r\nCookie: {cookies}\r\n"
        f"X-CSRFToken: {client.cookies['csrftoken']}\r\nX-Requested-With: XMLHttpRequest\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {5_000_000}\r\n\r\n"
    ).encode()
    with socket.create_connection((host.hostname, host.port), timeout=10) as sock:
        sock.sendall(request + head + os.urandom(1_000_000))  # a fifth of the promised body, then hang up
    time.sleep(2)
    assert client.get("/datasets/").text.count("<tr>") == before
    assert os.listdir(running_platform.var_dir / "tmp") == []
    uploads = running_platform.var_dir / "media" / "uploads"
    assert not uploads.exists() or os.listdir(uploads) == []
