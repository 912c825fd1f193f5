"""Fixtures of the live-page suites."""

from __future__ import annotations

import pytest

from tests.live.web_server import start_web_server


@pytest.fixture
def redis_layer(settings, redis_url):
    """Channels on the real Redis (a database claimed for this run), as in production."""
    layer = dict(settings.CHANNEL_LAYERS["default"])
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [redis_url]}}}
    return redis_url


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, redis_url):
    """The web server (uvicorn, as `make up` runs it) serving the platform over HTTP and WebSockets, with its own database (no worker, no trainer)."""
    server = start_web_server(tmp_path_factory.mktemp("web"), redis_url)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium through Playwright's sync API (never `playwright install`)."""
    import os
    import shutil

    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        yield browser
        browser.close()
