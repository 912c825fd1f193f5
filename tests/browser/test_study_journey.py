"""The whole journey in a real Chromium on the real platform (daphne + Celery worker + training service).

Sign up, press "Try a sample dataset" on the empty dataset list (the generated
shapes go through the normal ingestion path), watch ingestion, start a small
study, see the charts gain points and the time left change without a reload,
cancel, see the state change, download the best `.pth` and load it in plain
PyTorch. Uploading a zip from the browser has its own tests (test_upload.py).
Screenshots of the dataset page and of the study page mid-run go to test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from platform_web.datasets.sample import CLASSES as SAMPLE_CLASSES
from tests.screenshots import snap
from trainer_api.engine import load_model

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
# Small and slow enough to watch: batch 16 at 32 px, 3 to 4 epochs a trial, more trials than we wait for.
SCROLL_TO_LIVE = "document.getElementById('study-live').getBoundingClientRect().top + window.scrollY - 70"
STUDY_FORM = {"epochs_min": "3", "epochs_max": "4", "n_trials": "12", "parallel_trials": "1"}


@pytest.fixture(scope="module")
def chromium():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def fill_study_form(page) -> None:
    """Narrow the suggested search space so trials last a few seconds each on this CPU."""
    page.fill("#id_name", "Journey search")
    for box in page.locator("input[name=input_sizes]").all():
        box.set_checked(box.get_attribute("value") == "32")
    for box in page.locator("input[name=batch_sizes]").all():
        box.set_checked(box.get_attribute("value") == "16")
    for box in page.locator("input[name=architectures]").all():
        if box.is_enabled():
            box.set_checked(box.get_attribute("value") == "simple_cnn")
    for name, value in STUDY_FORM.items():
        page.fill(f"#id_{name}", value)


def test_sign_up_try_the_sample_study_watch_cancel_download(chromium, running_platform, tmp_path):
    torch.set_num_threads(1)
    ARTIFACTS.mkdir(exist_ok=True)
    # bypass_csp: wait_for_function's strings need eval (see tests/browser/conftest.py).
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        journey(page, running_platform.url, tmp_path)
    except BaseException:
        try:  # best effort: the journey's own error is the one to report
            page.screenshot(path=str(ARTIFACTS / "journey-failure.png"), timeout=10_000)
        except Exception:  # noqa: BLE001
            pass
        raise
    finally:
        context.close()


def journey(page, url: str, tmp_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Sign up.
    page.goto(f"{url}/accounts/signup/")
    page.fill("#id_username", "journey")
    page.fill("#id_password1", "a-long-journey-password")
    page.fill("#id_password2", "a-long-journey-password")
    page.click("form button[type=submit]")
    page.wait_for_url(f"{url}/datasets/")

    # The empty list offers the sample; its page follows ingestion over its WebSocket.
    page.click("#sample-button")
    page.wait_for_url(f"{url}/datasets/*-*/")
    dataset_url = page.url
    snap(page, ARTIFACTS / "journey-dataset-ingesting.png")
    page.wait_for_selector("#status-badge.ready")
    snap(page, ARTIFACTS / "journey-dataset-ready.png", full_page=True)

    # Start a small study.
    start = page.locator("a[href*='/studies/new/']")
    if start.count():
        start.first.click()
    else:  # the dataset page has no start link yet: the same URL the studies app serves
        page.goto(dataset_url.replace("/datasets/", "/studies/new/"))
    fill_study_form(page)
    page.click("#start-button")
    page.wait_for_url(f"{url}/studies/*-*/")
    page.wait_for_function("window.studyLive && window.studyLive.live")
    assert page.locator("#live-status").inner_text() == "live"

    # Watch it run: points join the chart and the time left moves, all without a reload.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function("window.studyLive.pointCount() >= 1")
    first_points = page.evaluate("window.studyLive.pointCount()")
    page.wait_for_function("document.getElementById('live-eta').textContent.match(/\\d/)")
    eta = page.locator("#live-eta").inner_text()
    page.wait_for_function("(n) => window.studyLive.pointCount() > n", arg=first_points)
    page.wait_for_function("(before) => document.getElementById('live-eta').textContent !== before", arg=eta)
    assert page.evaluate("window.__sameDocument === true")

    # A best trial appears (the first trial is a known-good configuration): the page mid-run.
    page.wait_for_selector("#best-download")
    page.wait_for_function("window.studyLive.trialCount() >= 2")
    assert page.evaluate("window.__sameDocument === true")
    page.wait_for_function("window.studyLive.drawn")
    snap(page, ARTIFACTS / "journey-study-running.png")
    page.evaluate(f"window.scrollTo(0, {SCROLL_TO_LIVE})")
    snap(page, ARTIFACTS / "journey-study-running-charts.png")

    # Cancel the rest.
    finished = int(page.locator("#progress-text").inner_text().split()[0])
    assert finished < int(STUDY_FORM["n_trials"]), "the study ended before it could be cancelled"
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel this study?"
    page.click("#cancel-button")
    page.wait_for_selector("#study-state.cancelled", timeout=120_000)
    assert page.locator("#study-state").inner_text() == "Cancelled"
    page.wait_for_function("window.studyLive && window.studyLive.live")
    assert not page.locator("#cancel-button").count()

    # Download the best model and rebuild it from the file alone (torch.load with weights_only=True).
    with page.expect_download() as download_info:
        page.click("#best-download")
    download = download_info.value
    assert download.suggested_filename.endswith(".pth")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    model, metadata = load_model(saved)
    assert metadata["class_names"] == sorted(SAMPLE_CLASSES)
    size = metadata["input_size"]
    with torch.no_grad():
        assert model(torch.zeros(1, 3, size, size)).shape == (1, len(SAMPLE_CLASSES))
    assert errors == []
