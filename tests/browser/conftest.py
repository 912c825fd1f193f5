"""Shared fixtures of the browser suites: Debian's Chromium driven by Playwright's sync API.

Never run `playwright install`: the browser is the system's `chromium`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    """Path of Debian's chromium; skips the test with the reason when it is not installed."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; `make test` does it as root)")
    return executable


@pytest.fixture(scope="module")
def chromium_browser():
    """A headless Chromium for one test module (one Playwright instance at a time per thread)."""
    executable = chromium_executable()
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium_browser):
    """`new_page()` -> a Page in a fresh context; `page.errors` collects uncaught script errors."""
    contexts = []

    def make(width: int = 1280, height: int = 900):
        # bypass_csp: Playwright's wait_for_function evaluates its string with eval, which the pages'
        # Content-Security-Policy forbids; test_the_page_runs_under_its_content_security_policy enforces it.
        context = chromium_browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    """Folder for screenshots (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
