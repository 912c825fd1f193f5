"""Datasets this trainer downloaded (no shared disk): one folder each, a size cap, least recently used out first.

A downloaded dataset lands in `<datasets_dir>/<dataset id>/`, where a shared media folder
would have it, so the same `dataset_path` finds it next time. `.downloaded.json` inside
marks it as a copy (a dataset of the shared folder is never evicted, and never has one)
and records its size; its modification time is the last use. Downloads of one dataset
are serialised with an `flock`, so two trials that need it wait for one download, and a trial
holds a shared `flock` on its copy while it trains (`using`), so no trainer process sharing this
folder evicts it meanwhile.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from trainer_api.engine.errors import DatasetError
from trainer_api.engine.manifest import MANIFEST_NAME, read_manifest
from trainer_api.transfer_clients import Transfer

log = logging.getLogger(__name__)

MARKER = ".downloaded.json"


def is_downloaded(folder: Path) -> bool:
    """Whether `folder` is a downloaded copy (not the shared media folder's own dataset)."""
    return (folder / MARKER).is_file()


def folder_bytes(folder: Path) -> int:
    return sum(entry.stat().st_size for entry in folder.rglob("*") if entry.is_file())


class DatasetDownloads:
    """Fetches missing datasets through `transfer` into `datasets_dir`, keeping their total under `cap_bytes`."""

    def __init__(self, datasets_dir: Path, transfer: Transfer, cap_bytes: int) -> None:
        self.datasets_dir = Path(datasets_dir)
        self.transfer = transfer
        self.cap_bytes = cap_bytes

    def folder(self, dataset_id: str, expected_hash: str | None, in_use: Collection[Path] = ()) -> Path:
        """The dataset's local folder, downloaded now unless an intact copy is there; then the cache is trimmed."""
        folder = self.datasets_dir / dataset_id
        with self._locked(dataset_id):
            if self._usable(folder, expected_hash):
                os.utime(folder / MARKER)
            else:
                shutil.rmtree(folder, ignore_errors=True)
                started = time.monotonic()
                self.transfer.fetch_dataset(dataset_id, folder, expected_hash)
                size = folder_bytes(folder)
                (folder / MARKER).write_text(json.dumps({"dataset_id": dataset_id, "bytes": size,
                                                         "from": self.transfer.where}))  # fmt: skip
                log.info("downloaded dataset %s (%.1f MB) from %s in %.1f s", dataset_id, size / 1e6,
                         self.transfer.where, time.monotonic() - started)  # fmt: skip
        self.trim(keep={Path(p).resolve() for p in in_use} | {folder.resolve()})
        return folder

    def trim(self, keep: Collection[Path] = ()) -> list[str]:
        """Delete least recently used copies until the total is under the cap; the ids deleted."""
        copies = []
        for marker in self.datasets_dir.glob(f"*/{MARKER}"):
            try:
                recorded = json.loads(marker.read_text()).get("bytes", 0)
                copies.append((marker.stat().st_mtime, marker.parent, int(recorded)))
            except (OSError, ValueError):
                continue
        total = sum(size for _, _, size in copies)
        deleted = []
        for _, folder, size in sorted(copies, key=lambda c: c[0]):
            if total <= self.cap_bytes:
                break
            if folder.resolve() in keep:
                continue
            with self._locked(folder.name, wait=False) as held, self._locked(f"{folder.name}.use", wait=False) as free:
                if not (held and free):
                    continue  # being downloaded or checked, or a trial of any process on this host trains on it
                shutil.rmtree(folder, ignore_errors=True)
            total -= size
            deleted.append(folder.name)
            log.info("evicted downloaded dataset %s (%.1f MB): cache over %.0f MB", folder.name, size / 1e6,
                     self.cap_bytes / 1e6)  # fmt: skip
        return deleted

    @staticmethod
    def _usable(folder: Path, expected_hash: str | None) -> bool:
        if not is_downloaded(folder) or not (folder / MANIFEST_NAME).is_file():
            return False
        try:
            found = read_manifest(folder).content_hash
        except DatasetError:
            return False
        return not expected_hash or found == expected_hash

    @contextmanager
    def using(self, folder: Path) -> Iterator[None]:
        """Hold a downloaded copy while a trial trains on it: no trainer on this host evicts it meanwhile."""
        if not is_downloaded(folder):
            yield
            return
        with self._locked(f"{folder.name}.use", shared=True):
            yield

    @contextmanager
    def _locked(self, name: str, wait: bool = True, shared: bool = False) -> Iterator[bool]:
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        with open(self.datasets_dir / f".{name}.lock", "a") as lock:
            try:
                mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
                fcntl.flock(lock, mode if wait else mode | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
