"""Decoding in a pool of two processes gives exactly the dataset that in-process decoding gives."""

import dataclasses

import pytest

from platform_web.datasets.models import Dataset
from tests.datasets.builders import class_folders, image_bytes
from tests.datasets.conftest import manifest_of
from worker.ingest import job
from worker.ingest.fingerprints import Fingerprint
from worker.ingest.image_checks import ImageChecker

pytestmark = [pytest.mark.django_db]


def test_pool_and_inline_decoding_agree(ingest, settings, monkeypatch):
    entries = class_folders(("a", "b", "c"), per_class=10) | {"a/broken.png": b"nope"}
    inline = ingest(entries)
    settings.INGEST_PROCESSES = 2
    original = job.ingest_settings
    # Small batches and no threshold: the 31 files go through the pool in 8 batches.
    monkeypatch.setattr(job, "ingest_settings", lambda: dataclasses.replace(original(), pool_threshold=1, batch_size=4))
    pooled = ingest(entries)
    assert inline.status == pooled.status == Dataset.Status.READY
    assert manifest_of(inline) == manifest_of(pooled)
    assert inline.warnings == pooled.warnings and len(pooled.warnings) == 1


def _check_in_a_daemon(paths: list[str], results) -> None:
    checker = ImageChecker(max_pixels=10**6, processes=2)
    try:
        checker.submit(0, paths)
        results.put([result for _, batch in checker.finished(wait=True) for result in batch])
    finally:
        checker.close()


def test_the_pool_starts_inside_a_daemonic_process_like_a_celery_worker(tmp_path):
    import multiprocessing

    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    good.write_bytes(image_bytes())
    bad.write_bytes(b"nope")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    daemon = context.Process(target=_check_in_a_daemon, args=([str(good), str(bad)], results), daemon=True)
    daemon.start()
    daemon.join(60)  # the results are tiny: the queue's pipe never blocks the child's exit
    assert daemon.exitcode == 0
    found = results.get(timeout=5)
    width, height, fingerprint = found[0]  # the size and the duplicate-search fingerprint of the one decode
    assert (width, height) == (24, 16) and isinstance(fingerprint, Fingerprint)
    assert "cannot identify image file" in found[1]
