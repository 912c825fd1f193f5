"""Every page, in every state a user meets it, fits a phone (390 px) and a laptop (1366 px).

A real Chromium visits each page, anonymous and signed in, with long names,
ten classes, raw hyperparameter floats and long error messages, and fails when
the document is wider than the viewport or an element runs out of its card
(`page_fit.overflows`). The screenshots land in test-artifacts/pages/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from platform_web.datasets.models import Dataset
from platform_web.studies import records
from platform_web.studies.models import EpochMetric, Study, Trial
from tests.browser.page_fit import overflows
from tests.browser.test_model_page import log_in
from tests.datasets.builders import class_folders, write_zip
from tests.trained_models.builders import TrainedModel, install_trial
from trainer_api.engine.config import TrialConfig
from trainer_api.engine.trial import run_trial
from worker import model_jobs
from worker.ingest import job

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1366)
LONG_NAME = "Holiday photographs 2026, every camera, unsorted and unlabelled (mountains + coast)"
CLASSES = [f"{word}_photographed_at_the_seaside_{i}" if i % 3 == 0 else word
           for i, word in enumerate(["harbour", "lighthouse", "boat", "gull", "pier", "dune", "cliff", "wave",
                                     "sandcastle", "umbrella"])]  # fmt: skip
RAW_PARAMS = {
    "architecture": "small_resnet", "width": 32, "depth": 2, "input_size": 32, "batch_size": 64, "epochs": 12,
    "optimizer": "adamw", "learning_rate": 0.0007780155576901416, "weight_decay": 3.1622776601683795e-05,
    "scheduler": "onecycle", "augment": True, "augment_strength": 0.45123456789, "label_smoothing": 0.05,
    "dropout": 0.123456789, "mixup_alpha": 0.2,
}  # fmt: skip
LONG_ERROR = ("The training service answered 503 for every trial: "
              "/var/lib/tune/trainer/trials/5f0c7a1e-3a8b-4a51-9d55-very-long-key-without-spaces-0000000000000000 "
              "could not be written (No space left on device). Free some space and press Resume.")  # fmt: skip


@pytest.fixture
def world(user, tmp_path, settings):
    """Datasets, studies and models in each state a user meets them."""
    settings.INGEST_PROCESSES = 1
    ready = _ingested(user, tmp_path, LONG_NAME, class_folders(CLASSES, per_class=6))
    failed = _ingested(user, tmp_path, "Scans (not a dataset)", {"readme.txt": b"no images here"})
    processing = Dataset.objects.create(owner=user, name="Drawings, still unpacking", status=Dataset.Status.PROCESSING,
                                        progress=0.42, progress_message="Checking images: 1,040 of 2,400")  # fmt: skip
    now = timezone.now()

    def study(name, state, **fields):
        return Study.objects.create(owner=user, dataset=ready, name=name, state=state, n_trials=40, parallel_trials=2,
                                    optuna_name=f"fit-{name}", space={"epochs": [4, 12]}, **fields)  # fmt: skip

    completed = study(LONG_NAME, Study.State.COMPLETED, started_at=now - timedelta(minutes=9),
                      run_started_at=now - timedelta(minutes=9), finished_at=now, elapsed_seconds=540)  # fmt: skip
    model = _trained(ready, tmp_path)
    best = install_trial(model, user, study=completed, number=0)
    install_trial(model, user, study=completed, number=1)
    _trials(completed, start=2, count=14)
    records.record_progress(completed.pk)
    assert model_jobs.run_job(best.pk, "evaluation") == "ready"
    running = study("Running search", Study.State.RUNNING, started_at=now, run_started_at=now)
    _trials(running, start=0, count=8, running=2)
    running.best_trial = running.trials.filter(state="completed").order_by("-value").first()
    running.save(update_fields=["best_trial"])
    records.record_progress(running.pk)
    studies = {
        "completed": completed,
        "running": running,
        "queued": study("Queued search", Study.State.QUEUED),
        "failed": study("Failed search", Study.State.FAILED, error=LONG_ERROR, finished_at=now),
        "cancelled": study("Cancelled search", Study.State.CANCELLED, finished_at=now),
        "stalled": study(
            "Stalled search",
            Study.State.RUNNING,
            started_at=now - timedelta(hours=1),
            run_started_at=now - timedelta(hours=1),
        ),  # fmt: skip
    }
    return {"ready": ready, "failed": failed, "processing": processing, "studies": studies, "best": best}


# The live study page has drawn its first snapshot: the trial table no longer says it is loading.
STUDY_DRAWN = "() => !document.getElementById('live-trials-body').textContent.includes('Loading the trials')"


def _ingested(owner, tmp_path: Path, name: str, entries: dict[str, bytes]) -> Dataset:
    dataset = Dataset.objects.create(owner=owner, name=name)
    dataset.upload_path.parent.mkdir(parents=True, exist_ok=True)
    dataset.upload_path.write_bytes(write_zip(tmp_path / f"{dataset.id}.zip", entries).read_bytes())
    job.ingest_dataset(dataset_id=dataset.id)
    dataset.refresh_from_db()
    return dataset


def _trained(dataset: Dataset, tmp_path: Path) -> TrainedModel:
    """A real model of the ten long-named classes (tiny: the page's layout is what is tested)."""
    config = TrialConfig(architecture="simple_cnn", input_size=16, batch_size=16, epochs=2, learning_rate=0.01,
                         augment=False, diverge_check_epochs=0, seed=0)  # fmt: skip
    work_dir = tmp_path / "trials" / "fit-model"
    result = run_trial(config, dataset.directory, work_dir, tmp_path / "cache", device="cpu", num_threads=1)
    assert result.model_path, result.message
    return TrainedModel(dataset.directory, work_dir, result, config)


def _trials(study: Study, *, start: int, count: int, running: int = 0) -> None:
    """Trials of every ending, with raw floats in their parameters and a diverged loss."""
    ends = ["completed", "pruned", "diverged", "failed", "completed", "cancelled", "skipped", "completed"]
    for number in range(start, start + count):
        state = "running" if number >= start + count - running else ends[number % len(ends)]
        params = {**RAW_PARAMS, "learning_rate": RAW_PARAMS["learning_rate"] * (1 + number / 7)}
        trial = Trial.objects.create(
            study=study, number=number, state=state, params=params, epochs_planned=12,
            value=None if state in ("failed", "skipped", "cancelled") else 0.41 + number / 97,
            epochs_done=3, train_seconds=12.3456, finished_at=None if state == "running" else timezone.now(),
            error=LONG_ERROR if state == "failed" else "", retry_of=1 if number == start + 3 else None,
        )  # fmt: skip
        for epoch in (1, 2, 3):
            loss = 3500.0 if state == "diverged" and epoch == 3 else 1.9 / epoch
            EpochMetric.objects.create(trial=trial, epoch=epoch, val_accuracy=0.3 + epoch / 10, val_loss=loss,
                                       train_loss=loss, train_accuracy=0.3 + epoch / 10, seconds=4.1)  # fmt: skip


def _pages(world) -> list[tuple[str, str, str | None]]:
    """(name, path, a selector that is there once the page has drawn itself) for every signed-in page."""
    ready, best = world["ready"], world["best"]
    pages = [
        ("home", "/", None),
        ("datasets", "/datasets/", None),
        ("upload", "/datasets/upload/", None),
        ("dataset-ready", f"/datasets/{ready.id}/", None),
        ("dataset-failed", f"/datasets/{world['failed'].id}/", None),
        ("dataset-processing", f"/datasets/{world['processing'].id}/", None),
        ("dataset-delete", f"/datasets/{ready.id}/delete/", None),
        ("studies", "/studies/", None),
        ("study-new", f"/studies/new/{ready.id}/", None),
        ("study-delete", f"/studies/{best.study_id}/delete/", None),
        ("model", f"/studies/{best.study_id}/trials/0/model/", "#confusion-matrix"),
        ("compare", f"/models/compare/?t={best.study_id}:0&t={best.study_id}:1", "#compare-table"),
        ("compare-nothing", "/models/compare/", None),
        ("api-tokens", "/accounts/tokens/", None),
        ("not-found", "/studies/not-a-study/", None),
    ]
    for state, study in world["studies"].items():  # drawn once the first snapshot came (over HTTP here)
        pages.append((f"study-{state}", f"/studies/{study.id}/", STUDY_DRAWN))
    return pages


def _check(page, url: str, name: str, drawn: str | None, folder: Path) -> list[str]:
    """Load the page once, then lay it out at each width (as a phone turned or a window resized would)."""
    found = []
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    page.goto(url)
    page.wait_for_load_state("load")
    if drawn and drawn.startswith("() =>"):
        page.wait_for_function(drawn, timeout=45_000)
    elif drawn:
        page.wait_for_selector(drawn, state="attached", timeout=30_000)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # lazy images load, as when a user scrolls
    page.wait_for_timeout(300)
    page.evaluate("window.scrollTo(0, 0)")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(400)  # charts redraw at the new width
        found += [f"{name} at {width} px: {problem}" for problem in overflows(page)]
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True, animations="disabled")
    return found


def test_every_page_fits_a_phone_and_a_laptop(new_page, artifacts, live_server, world, settings):
    folder = artifacts / "pages"
    folder.mkdir(exist_ok=True)
    page = new_page()
    problems = []
    for name, path, drawn in [("login", "/accounts/login/", None), ("signup", "/accounts/signup/", None),
                              ("home-anonymous", "/", None)]:  # fmt: skip
        problems += _check(page, live_server.url + path, name, drawn, folder)
    log_in(page, live_server, world["best"].study.owner)
    for name, path, drawn in _pages(world):
        problems += _check(page, live_server.url + path, name, drawn, folder)
    assert not problems, "\n".join(problems)
    assert page.errors == []


def test_the_locked_out_page_fits(new_page, artifacts, live_server, user, settings):
    settings.AXES_FAILURE_LIMIT = 1
    page = new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "not the password")
    page.click("form button[type=submit]")
    page.wait_for_load_state("load")
    assert "locked" in page.content().lower()
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        problems += [f"locked out at {width} px: {p}" for p in overflows(page)]
        page.screenshot(path=str(artifacts / f"locked-out-{width}.png"), full_page=True)
    assert not problems, "\n".join(problems)
