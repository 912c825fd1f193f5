"""Screenshots for the browser tests, robust to a busy machine."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout


def snap(page, path: str | Path, attempts: int = 3, **options) -> None:
    """Save a screenshot of `page` (or a locator) at `path`.

    A busy 2-core machine can starve headless Chromium's compositor on a page that
    redraws live charts, so a capture that times out is tried again before the test fails.
    """
    for attempt in range(attempts):
        try:
            page.screenshot(path=str(path), animations="disabled", timeout=30_000, **options)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
