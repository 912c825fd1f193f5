"""Decoding in a pool of two processes gives exactly the dataset that in-process decoding gives."""

import dataclasses

import pytest

from platform_web.datasets import services
from platform_web.datasets.models import Dataset
from tests.datasets.builders import class_folders
from tests.datasets.conftest import manifest_of

pytestmark = [pytest.mark.django_db]


def test_pool_and_inline_decoding_agree(ingest, settings, monkeypatch):
    entries = class_folders(("a", "b", "c"), per_class=10) | {"a/broken.png": b"nope"}
    inline = ingest(entries)
    settings.INGEST_PROCESSES = 2
    original = services.ingest_settings
    # Small batches and no threshold: the 31 files go through the pool in 8 batches.
    monkeypatch.setattr(
        services, "ingest_settings", lambda: dataclasses.replace(original(), pool_threshold=1, batch_size=4)
    )
    pooled = ingest(entries)
    assert inline.status == pooled.status == Dataset.Status.READY
    assert manifest_of(inline) == manifest_of(pooled)
    assert inline.warnings == pooled.warnings and len(pooled.warnings) == 1
