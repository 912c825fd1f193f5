"""A real Chromium signs up, drops a zip on the upload page, watches the upload and the ingestion finish."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.datasets.builders import class_folders, write_zip

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def photo_like_zip(path, classes=("apple", "banana", "cherry"), per_class=40):
    """Noisy 64x64 PNGs (about 12 KB each), so the upload takes a moment on a throttled link."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for c, name in enumerate(classes):
            for n in range(per_class):
                base = np.array([(200, 40, 40), (230, 210, 50), (120, 20, 60)][c % 3])
                pixels = (base + rng.normal(0, 30, (64, 64, 3))).clip(0, 255).astype("uint8")
                out = io.BytesIO()
                Image.fromarray(pixels).save(out, "PNG")
                zf.writestr(f"fruit/{name}/{n:03d}.png", out.getvalue())
        zf.writestr("fruit/apple/notes.txt", b"picked in May")
        zf.writestr("fruit/banana/broken.png", b"\x89PNG\r\n\x1a\n not really")
    return path


def sign_up(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.com")
    page.fill("#id_password1", "watch-the-bar-move-42")
    page.fill("#id_password2", "watch-the-bar-move-42")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/datasets/")


def test_upload_with_progress_then_ready_page(running_platform, new_page, artifacts, tmp_path):
    base = running_platform.url
    page = new_page()
    sign_up(page, base, "browser-alice")
    page.screenshot(path=artifacts / "datasets-empty-list.png", full_page=True)

    page.click("text=Upload a dataset")
    page.wait_for_url(f"{base}/datasets/upload/")
    zip_path = photo_like_zip(tmp_path / "fruit-photos.zip")
    page.set_input_files("#id_file", str(zip_path))
    assert page.input_value("#id_name") == "fruit-photos"  # the name defaults to the zip's
    assert "fruit-photos.zip" in page.inner_text("#dropzone")
    page.screenshot(path=artifacts / "upload-chosen.png", full_page=True)

    # A slow link (about 400 KB/s up) so the progress bar is seen moving.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 400_000})  # fmt: skip
    page.click("#upload-button")
    page.wait_for_function(
        "() => { const w = parseFloat(document.getElementById('upload-bar').style.width); return w > 5 && w < 95; }"
    )
    assert page.is_visible("#upload-progress") and page.is_visible("#cancel-button")
    page.screenshot(path=artifacts / "upload-in-progress.png", full_page=True)

    page.wait_for_url(re.compile(rf"{re.escape(base)}/datasets/[0-9a-f-]{{36}}/$"), timeout=60_000)
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})  # fmt: skip
    page.wait_for_selector("#class-chart", timeout=90_000)  # the page polled status.json, then reloaded
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumbs img')].every(img => img.complete && img.naturalWidth === 96)"
    )
    assert page.inner_text("#status-badge") == "Ready"
    assert page.locator(".thumbs img").count() == 18  # six per class
    assert page.evaluate("() => Chart.getChart('class-chart').data.datasets.map(d => d.data)") == [
        [32, 32, 32],
        [8, 8, 8],
    ]
    text = page.inner_text("main")
    assert "apple" in text and "banana" in text and "cherry" in text and "64×64" in text
    warnings = page.inner_text("details.warnings")
    assert "fruit/apple/notes.txt: not an image file" in warnings and "fruit/banana/broken.png: unreadable" in warnings
    page.screenshot(path=artifacts / "dataset-ready.png", full_page=True)

    page.click("text=All datasets")
    assert page.locator("table.dataset-table tbody tr").count() == 1
    page.screenshot(path=artifacts / "datasets-list.png", full_page=True)
    assert page.errors == []


def test_failed_ingestion_shows_the_reason(running_platform, new_page, artifacts, tmp_path):
    base = running_platform.url
    page = new_page()
    sign_up(page, base, "browser-bob")
    page.goto(f"{base}/datasets/upload/")
    entries = class_folders(("cat", "dog"), per_class=3, prefix="train/") | class_folders(("cat", "emu"), 2, "val/")
    page.set_input_files("#id_file", str(write_zip(tmp_path / "mismatch.zip", entries)))
    page.click("#upload-button")
    page.wait_for_selector(".error-box", timeout=90_000)
    message = page.inner_text(".error-box")
    assert "only in train/: dog" in message and "only in val/: emu" in message
    page.screenshot(path=artifacts / "dataset-failed.png", full_page=True)

    page.click("#delete-button")
    page.click("text=Delete dataset")
    page.wait_for_url(f"{base}/datasets/")
    assert "were deleted" in page.inner_text(".messages")
    page.screenshot(path=artifacts / "dataset-deleted.png", full_page=True)
    assert page.errors == []


def test_a_file_over_the_limit_is_refused_in_the_page(running_platform, new_page, tmp_path):
    page = new_page()
    sign_up(page, running_platform.url, "browser-carol")
    page.goto(f"{running_platform.url}/datasets/upload/")
    page.evaluate("() => { document.getElementById('upload-form').dataset.maxBytes = '100'; }")
    page.set_input_files("#id_file", str(write_zip(tmp_path / "small.zip", class_folders())))
    assert "the largest upload accepted" in page.inner_text("#upload-error")
    assert page.errors == []
