"""A real Chromium clicks through the model page: evaluation, export, try-it, snippet, download, compare.

The evaluation and the exports run in the Celery worker; here a thread of the
test process stands in for it (the platform suite runs the real worker), a
moment after the page queued the job, so the page shows its pending state and
polls until the result is there.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from django.test import Client

from tests.trained_models.builders import install_trial, train_model
from tests.trainer_process import InferenceProcess
from worker import model_jobs, model_tasks

TOKEN = "models-test-token"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def inference_service(tmp_path_factory):
    service = InferenceProcess(tmp_path_factory.mktemp("inference"), token=TOKEN)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Two models trained by the real engine: simple_cnn and cifar_net on the colour dataset."""
    return (
        train_model(tmp_path_factory.mktemp("simple")),
        train_model(tmp_path_factory.mktemp("cifar"), architecture="cifar_net", epochs=4),
    )


class StandInWorker:
    """Stands in for the Celery worker: a queued model task runs in a thread once the test lets one through.

    Holding each job until `run_next()` makes the page's pending state certain to be seen, however slow the machine.
    """

    def __init__(self) -> None:
        self.go = threading.Semaphore(0)
        self.threads: list[threading.Thread] = []

    def queue_into_thread(self, task):
        def apply_async(args=(), kwargs=None, **options):
            def run():
                if self.go.acquire(timeout=120):
                    task(*args, **(kwargs or {}))

            thread = threading.Thread(target=run, name=f"worker-{task.name}", daemon=True)
            thread.start()
            self.threads.append(thread)

        return apply_async

    def run_next(self) -> None:
        self.go.release()


@pytest.fixture
def worker(monkeypatch):
    stand_in = StandInWorker()
    for task in (model_tasks.evaluate_model_task, model_tasks.export_model_task):
        monkeypatch.setattr(task, "apply_async", stand_in.queue_into_thread(task))
    yield stand_in
    for _ in stand_in.threads:
        stand_in.run_next()
    for thread in stand_in.threads:
        thread.join(timeout=60)


def log_in(page, live_server, user) -> None:
    """Give the browser alice's session cookie (the login form is the accounts suite's business)."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)


def test_model_page_click_through(
    new_page, artifacts, live_server, settings, inference_service, two_models, user, tmp_path, worker, monkeypatch
):
    settings.TRAINER_DATA_DIR = inference_service.data_dir
    settings.INFERENCE_URL = inference_service.url
    settings.TRAINER_TOKEN = TOKEN
    simple, cifar = two_models
    first = install_trial(simple, user, study_name="Colour search")
    second = install_trial(cifar, user, study=first.study, number=1)
    page = new_page()
    page.set_default_timeout(60_000)
    log_in(page, live_server, user)

    page.goto(f"{live_server.url}/studies/{first.study_id}/trials/0/model/")
    assert "simple_cnn" in page.locator("h1").inner_text()
    # the first visit queues the evaluation: the section says what is going on, then shows the result by itself
    progress = page.locator("#evaluation .job-progress")
    assert "Evaluating the model on 12 validation images…" in progress.inner_text()
    page.wait_for_function("document.querySelector('#evaluation .job-elapsed').textContent.startsWith('Queued')")
    page.locator("#evaluation").screenshot(path=str(artifacts / "model-page-evaluating.png"))
    worker.run_next()
    page.wait_for_selector("#confusion-matrix")
    assert page.locator("table.per-class tbody tr").count() == 3
    assert page.locator(".gallery .shot").count() >= 3
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.gallery img')).every(i => i.complete && i.naturalWidth > 0)"
    )

    # an export that fails its check: the page says why, in its message style and in the file's row
    monkeypatch.setattr(model_jobs, "EXPORT_TOLERANCE", -1.0)
    page.locator("tr[data-kind=torchscript] button", has_text="Export").click()
    page.wait_for_selector("tr[data-kind=torchscript][data-state=pending] .job-progress")
    assert "Exporting to TorchScript and checking it…" in page.locator("tr[data-kind=torchscript]").inner_text()
    worker.run_next()
    page.wait_for_selector(".messages .message.error")
    assert "The TorchScript export was not offered" in page.locator(".messages .message.error").inner_text()
    assert "Try again" in page.locator("tr[data-kind=torchscript]").inner_text()
    monkeypatch.setattr(model_jobs, "EXPORT_TOLERANCE", 1e-4)

    # export ONNX: the row shows the progress, then the file, its checksum and how it was checked
    page.locator("tr[data-kind=onnx] button", has_text="Export").click()
    page.wait_for_selector("tr[data-kind=onnx][data-state=pending]")
    assert "Exporting to ONNX and checking it…" in page.locator("tr[data-kind=onnx]").inner_text()
    page.locator("#files").screenshot(path=str(artifacts / "model-page-exporting.png"))
    worker.run_next()
    page.wait_for_selector("tr[data-kind=onnx] .sha")
    assert "onnxruntime" in page.locator("tr[data-kind=onnx]").inner_text()
    assert "ready" in page.locator(".messages .message.success").inner_text()

    # try it with three validation images, one of them drawn in another class's colour
    dataset_dir = Path(first.study.dataset.directory)
    images = [dataset_dir / "files/val/blue/002.png", dataset_dir / "files/val/green/003.png",
              dataset_dir / "files/val/red/001.jpg"]  # fmt: skip
    page.set_input_files("#try-files", [str(p) for p in images])
    page.click("#try-submit")
    page.wait_for_selector("#try-results .result >> nth=2")
    cards = page.locator("#try-results .result")
    assert [cards.nth(i).get_attribute("data-filename") for i in range(3)] == [p.name for p in images]
    assert [cards.nth(i).locator(".prob .label").first.inner_text() for i in range(3)] == ["blue", "green", "red"]

    # copy the snippet
    page.click("#copy-snippet")
    page.wait_for_function("document.getElementById('copy-snippet').textContent === 'Copied'")
    assert "def load_model" in page.evaluate("navigator.clipboard.readText()")

    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top of a full-page shot
    page.screenshot(path=str(artifacts / "model-page.png"), full_page=True)

    # download the .pth with the button at the top
    with page.expect_download() as download_info:
        page.click("#download-pth")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert download.suggested_filename == f"colour-search-simple_cnn-acc{first.value:.3f}-trial0.pth"
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == first.model_sha256

    # compare the two trials: metrics side by side, one curve per trial
    page.click("text=Compare…")
    page.locator(f"input[name=t][value='{second.study_id}:1']").check()
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare-table")
    header = page.locator("#compare-table thead").inner_text()
    assert "simple_cnn" in header and "cifar_net" in header
    page.wait_for_function("() => { const c = Chart.getChart('acc-chart'); return c && c.data.datasets.length === 2; }")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts / "compare-page.png"), full_page=True)
    assert page.errors == []
