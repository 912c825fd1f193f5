"""A training service that shares no disk with the platform: it downloads datasets and sends its trials back.

`PlatformFolder` stands in for the platform's end (the web app's routes or a bucket): it
sends a dataset as the real tar (dataset_archive.py) and keeps trial files by key, so the
registry, its downloads, its LRU cache and its resume-elsewhere run as in production.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
from pathlib import Path

import pytest
import torch

from tests.trainer_api.service.helpers import make_dataset, trial_body
from trainer_api.dataset_archive import extract_dataset_tar, stream_dataset_tar
from trainer_api.dataset_downloads import MARKER, DatasetDownloads
from trainer_api.remote_files import RemoteFiles
from trainer_api.transfer_clients import TransferError
from trainer_api.trials import TrialRegistry

DATASET_ID = "0c8c5a1e-5d5e-4a3e-9c55-000000000001"


class PlatformFolder:
    """The platform's end, on a folder: datasets/<id>/ to send, trials/<key>/<name> received."""

    where = "the test platform"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.downloads: list[str] = []
        self.sent: list[tuple[str, str]] = []
        self.refuse_datasets = False

    def fetch_dataset(self, dataset_id, destination, expected_hash):
        if self.refuse_datasets:
            raise TransferError(f"the test platform answered 503 for dataset {dataset_id}")
        self.downloads.append(dataset_id)
        data = b"".join(stream_dataset_tar(self.root / "datasets" / dataset_id))
        return extract_dataset_tar(io.BytesIO(data), destination, expected_hash)

    def put_trial_file(self, key, name, path):
        target = self.root / "trials" / key / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        self.sent.append((key, name))

    def get_trial_file(self, key, name, destination):
        source = self.root / "trials" / key / name
        if not source.is_file():
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        return True


@pytest.fixture
def platform(tmp_path):
    folder = PlatformFolder(tmp_path / "platform")
    make_dataset(folder.root / "datasets" / DATASET_ID)
    return folder


def host(tmp_path, name: str, platform: PlatformFolder, cap_bytes: int = 10**9) -> TrialRegistry:
    """A training service on a host of its own (its own folders), talking to `platform`."""
    root = tmp_path / name
    remote = RemoteFiles(platform, root / "datasets", cap_bytes)
    return TrialRegistry(data_dir=root / "trainer", cache_dir=root / "cache", device="cpu", num_threads=1,
                         remote=remote)  # fmt: skip


def start(registry: TrialRegistry, key: str, dataset_id: str = DATASET_ID, **config):
    body = trial_body(key, Path(f"datasets/{dataset_id}"), **config)
    return registry.start(body["key"], body["dataset_path"], body["config"], dataset_id=dataset_id)


def wait(registry: TrialRegistry, key: str, states=("completed", "failed", "cancelled"), timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while (status := registry.status(key))["state"] not in states:
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_trial_downloads_its_dataset_and_sends_its_model_back(tmp_path, platform):
    registry = host(tmp_path, "gpu-1", platform)
    start(registry, "s-0")
    status = wait(registry, "s-0")
    assert status["state"] == "completed", status["error"]
    local = tmp_path / "gpu-1" / "datasets" / DATASET_ID
    assert (local / MARKER).is_file() and platform.downloads == [DATASET_ID]
    for name in ("model.pth", "model.safetensors", "result.json", "config.json"):
        assert sha256(platform.root / "trials" / "s-0" / name) == sha256(registry.work_dir("s-0") / name), name
    sent_state = platform.root / "trials" / "s-0" / "state.json"
    deadline = time.monotonic() + 30  # the final state goes right after the trial is recorded as ended
    while '"completed"' not in sent_state.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    names = [name for key, name in platform.sent if key == "s-0"]
    last_state = len(names) - 1 - names[::-1].index("state.json")
    assert names.index("model.pth") < last_state  # the model is there before the end is
    state = torch.load(platform.root / "trials" / "s-0" / "model.pth", weights_only=True)
    assert state["val_accuracy"] == pytest.approx(status["result"]["best_val_accuracy"])

    start(registry, "s-1")  # the same dataset again: no second download
    assert wait(registry, "s-1")["state"] == "completed"
    assert platform.downloads == [DATASET_ID]


def test_a_dataset_that_cannot_be_downloaded_fails_the_trial_with_the_reason(tmp_path, platform):
    platform.refuse_datasets = True
    registry = host(tmp_path, "gpu-1", platform)
    start(registry, "s-0")
    status = wait(registry, "s-0")
    assert status["state"] == "failed" and "503 for dataset" in status["error"]
    assert not (tmp_path / "gpu-1" / "datasets" / DATASET_ID).exists()


def test_a_trial_on_the_shared_folder_sends_nothing(tmp_path, platform):
    registry = host(tmp_path, "main", platform)
    shared = make_dataset(tmp_path / "main" / "datasets" / "7")  # in the service's own dataset folder
    registry.start("s-0", str(shared), trial_body("s-0", shared)["config"], dataset_id=DATASET_ID)
    assert wait(registry, "s-0")["state"] == "completed"
    assert platform.sent == [] and platform.downloads == []


def test_an_interrupted_trial_resumes_on_another_host_from_its_last_sent_checkpoint(tmp_path, platform):
    first = host(tmp_path, "gpu-1", platform)
    start(first, "s-0", epochs=30)
    deadline = time.monotonic() + 120
    while first.status("s-0")["epochs_done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.shutdown()  # the host goes away mid-trial
    first.remote.send_finished("s-0", first.work_dir("s-0"), names=())  # let the background send land
    sent_epochs = int(json.loads((platform.root / "trials" / "s-0" / "state.json").read_text())["epochs_done"])
    assert sent_epochs >= 1 and (platform.root / "trials" / "s-0" / "checkpoint.pt").is_file()

    second = host(tmp_path, "gpu-2", platform)
    status, started = start(second, "s-0", epochs=30)
    assert started and status["epochs_done"] >= sent_epochs  # resumed, not started over
    first_epoch_here = None
    deadline = time.monotonic() + 180
    while (status := second.status("s-0"))["state"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        events, _ = second.events_since("s-0", 0)
        first_epoch_here = first_epoch_here or next((e["epoch"] for e in events if e["type"] == "epoch"), None)
        time.sleep(0.05)
    assert status["state"] == "completed", status["error"]
    history = status["result"]["history"]
    assert [h["epoch"] for h in history] == list(range(1, 31))
    assert platform.downloads == [DATASET_ID, DATASET_ID]  # each host fetched it once


def test_a_finished_trial_is_not_trained_again_on_another_host(tmp_path, platform):
    first = host(tmp_path, "gpu-1", platform)
    start(first, "s-0")
    assert wait(first, "s-0")["state"] == "completed"
    second = host(tmp_path, "gpu-2", platform)
    status, started = start(second, "s-0")
    assert not started and status["state"] == "completed"
    assert platform.downloads == [DATASET_ID]


def test_downloaded_datasets_stay_under_the_cap_least_recently_used_first(tmp_path, platform):
    ids = [f"0c8c5a1e-5d5e-4a3e-9c55-00000000000{i}" for i in (2, 3, 4)]
    for dataset_id in ids:
        make_dataset(platform.root / "datasets" / dataset_id, per_class=20)
    size = sum(p.stat().st_size for p in (platform.root / "datasets" / ids[0]).rglob("*") if p.is_file())
    downloads = DatasetDownloads(tmp_path / "host" / "datasets", platform, cap_bytes=int(size * 2.5))
    a, b = downloads.folder(ids[0], None), downloads.folder(ids[1], None)
    time.sleep(0.02)
    downloads.folder(ids[0], None)  # used again: now b is the least recently used
    downloads.folder(ids[2], None, in_use=[a, b])  # over the cap, but every copy is in use: none goes
    assert a.exists() and b.exists()
    assert downloads.trim() == [ids[1]]  # none in use: the least recently used goes, until under the cap
    assert a.exists() and not b.exists() and (tmp_path / "host" / "datasets" / ids[2]).exists()
    assert platform.downloads == [ids[0], ids[1], ids[2]]

    (a / "manifest.json").write_text("{}")  # a damaged copy is fetched again, not trusted
    downloads.folder(ids[0], None)
    assert platform.downloads[-1] == ids[0]


def test_a_copy_another_trainer_on_the_host_trains_on_is_not_evicted(tmp_path, platform):
    ids = [f"0c8c5a1e-5d5e-4a3e-9c55-00000000001{i}" for i in (1, 2)]
    for dataset_id in ids:
        make_dataset(platform.root / "datasets" / dataset_id)
    folder = tmp_path / "host" / "datasets"
    other_trainer = DatasetDownloads(folder, platform, cap_bytes=0)  # another process sharing the folder
    this_trainer = DatasetDownloads(folder, platform, cap_bytes=0)
    first = other_trainer.folder(ids[0], None)
    with other_trainer.using(first):
        this_trainer.folder(ids[1], None)  # a cap of 0: everything not in use goes
        assert first.exists()
    assert sorted(this_trainer.trim()) == ids  # no longer in use: both go
