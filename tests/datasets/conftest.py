"""Fixtures of the dataset suites: run ingestion in-process on a generated zip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from platform_web.datasets.models import Dataset
from tests.datasets.builders import write_zip
from worker.ingest import job

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def one_decoding_process(settings):
    """In-process decoding: tests stay light on the shared CPUs (the pool has its own test)."""
    settings.INGEST_PROCESSES = 1


@pytest.fixture
def ingest(user, tmp_path):
    """`ingest(entries_or_zip_path, owner=user)` -> the dataset after ingestion ran in this process."""
    counter = iter(range(1000))

    def run(source: dict[str, bytes] | Path | bytes, owner=None, name: str = "test set") -> Dataset:
        dataset = Dataset.objects.create(owner=owner or user, name=name)
        dataset.upload_path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, dict):
            source = write_zip(tmp_path / f"upload-{next(counter)}.zip", source)
        if isinstance(source, bytes):
            dataset.upload_path.write_bytes(source)
        else:
            dataset.upload_path.write_bytes(Path(source).read_bytes())
        job.ingest_dataset(dataset_id=dataset.id)
        dataset.refresh_from_db()
        return dataset

    return run


def manifest_of(dataset: Dataset) -> dict:
    return json.loads((dataset.directory / "manifest.json").read_text())


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
