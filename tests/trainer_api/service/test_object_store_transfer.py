"""A training service on S3-compatible object storage (moto's server over HTTP, as MinIO would be).

Ingestion puts the dataset's tar in the bucket; the service downloads it from there, checks
it against its content hash, trains, and puts its trial files back where the web app reads them.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import pytest

from tests.trainer_api.service.helpers import make_dataset, trial_body
from trainer_api.dataset_archive import write_dataset_tar
from trainer_api.engine.manifest import read_manifest
from trainer_api.file_transfer import dataset_object, trial_object
from trainer_api.object_store import ObjectStore
from trainer_api.remote_files import RemoteFiles
from trainer_api.transfer_clients import ObjectStoreTransfer, transfer_from_environment
from trainer_api.trials import TrialRegistry

DATASET_ID = "5f0c1d3e-0000-4000-8000-00000000000a"


@pytest.fixture(scope="module")
def store(object_store_env) -> ObjectStore:
    return ObjectStore.from_environment(object_store_env)


def put_dataset(store: ObjectStore, folder: Path, dataset_id: str) -> str:
    """What ingestion does with a bucket configured: the dataset's tar, its content hash as the metadata."""
    with tempfile.NamedTemporaryFile(suffix=".tar") as archive:
        write_dataset_tar(folder, archive)
        archive.flush()
        content_hash = read_manifest(folder).content_hash
        store.put_file(dataset_object(dataset_id), Path(archive.name), content_hash)
    return content_hash


def wait(registry: TrialRegistry, key: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while (status := registry.status(key))["state"] not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def test_the_bucket_is_chosen_over_the_platform_when_both_are_set(object_store_env):
    transfer = transfer_from_environment("http://web:8000", "token", object_store_env)
    assert isinstance(transfer, ObjectStoreTransfer) and object_store_env["OBJECT_STORAGE_BUCKET"] in transfer.where
    assert transfer_from_environment("", "token", {}) is None


def test_a_trial_trains_on_a_dataset_from_the_bucket_and_puts_its_files_there(tmp_path, store):
    content_hash = put_dataset(store, make_dataset(tmp_path / "platform" / DATASET_ID), DATASET_ID)
    remote = RemoteFiles(ObjectStoreTransfer(store), tmp_path / "gpu" / "datasets", cap_bytes=10**9)
    registry = TrialRegistry(data_dir=tmp_path / "gpu" / "trainer", cache_dir=tmp_path / "gpu" / "cache",
                             device="cpu", num_threads=1, remote=remote)  # fmt: skip
    body = trial_body("b-0", Path(f"datasets/{DATASET_ID}"))
    registry.start("b-0", body["dataset_path"], body["config"], dataset_id=DATASET_ID, dataset_hash=content_hash)
    status = wait(registry, "b-0")
    assert status["state"] == "completed", status["error"]
    for name in ("model.pth", "model.safetensors", "checkpoint.pt", "result.json"):
        fetched = tmp_path / "web" / name
        recorded = store.get_file(trial_object("b-0", name), fetched)  # checked against the bytes
        assert recorded == hashlib.sha256((registry.work_dir("b-0") / name).read_bytes()).hexdigest(), name
    state_file = tmp_path / "web" / "state.json"
    deadline = time.monotonic() + 30  # the final state goes right after the trial is recorded as ended
    while store.get_file(trial_object("b-0", "state.json"), state_file) and '"completed"' not in state_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)

    registry.start(
        "b-1", f"datasets/{DATASET_ID}-gone", body["config"], dataset_id="5f0c1d3e-0000-4000-8000-00000000000b"
    )
    status = wait(registry, "b-1")
    assert status["state"] == "failed" and "is not in object storage bucket" in status["error"]
    assert "Upload it again" in status["error"]


def test_a_dataset_whose_hash_is_not_the_expected_one_is_refused(tmp_path, store):
    put_dataset(store, make_dataset(tmp_path / "platform" / "d"), DATASET_ID)
    remote = RemoteFiles(ObjectStoreTransfer(store), tmp_path / "gpu" / "datasets", cap_bytes=10**9)
    registry = TrialRegistry(data_dir=tmp_path / "gpu" / "trainer", cache_dir=tmp_path / "gpu" / "cache",
                             device="cpu", num_threads=1, remote=remote)  # fmt: skip
    body = trial_body("c-0", Path(f"datasets/{DATASET_ID}"))
    registry.start("c-0", body["dataset_path"], body["config"], dataset_id=DATASET_ID, dataset_hash="f" * 64)
    status = wait(registry, "c-0")
    assert status["state"] == "failed" and f"not {'f' * 64}" in status["error"]
    assert not (tmp_path / "gpu" / "datasets" / DATASET_ID).exists()
