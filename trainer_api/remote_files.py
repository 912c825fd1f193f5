"""What the training service does when it shares no disk with the platform: the trial registry's one hook.

- **Datasets**: a dataset folder the service does not have is downloaded (`dataset_downloads.py`).
- **Trial files**: a trial whose dataset came that way sends its resume files after every
  epoch (in the background, newest only) and every file when it ends, before the service
  reports it finished, so the platform has the model the moment the worker records it.
  A trial that read its dataset from the shared media folder writes its files there too:
  nothing is sent (the fast path).
- **Resuming elsewhere**: asked for a key it has no folder for, the service first fetches
  that trial's resume files, so a trial interrupted on one host resumes on another from its
  last sent checkpoint (and a finished one is never trained again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from pathlib import Path

from trainer_api.dataset_downloads import DatasetDownloads, is_downloaded
from trainer_api.file_transfer import RESUME_FILES, TRIAL_FILES
from trainer_api.settings import TrainerSettings
from trainer_api.transfer_clients import Transfer, TransferError, transfer_from_environment

log = logging.getLogger(__name__)

# The files sent when a trial ends, state and events last (a reader that sees the finished
# state finds the model already there); tries and the pause between them.
SEND_TRIES = 4
SEND_PAUSE_SECONDS = 2.0
LAST_FILES = ("state.json", "events.ndjson")


class RemoteFiles:
    """Datasets in, trial files out, for one training service."""

    def __init__(self, transfer: Transfer, datasets_dir: Path, cap_bytes: int) -> None:
        self.transfer = transfer
        self.downloads = DatasetDownloads(datasets_dir, transfer, cap_bytes)
        self._pending: dict[str, Path] = {}
        self._sending: str | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._send_in_background, name="trial-files", daemon=True)
        self._thread.start()

    # --- datasets -----------------------------------------------------------------------------------

    def dataset_folder(self, dataset_id: str, expected_hash: str | None, in_use: Collection[Path]) -> Path:
        return self.downloads.folder(dataset_id, expected_hash, in_use)

    def using(self, dataset_dir: Path):
        """A context that keeps the dataset's downloaded copy from being evicted while a trial trains on it."""
        return self.downloads.using(dataset_dir)

    @staticmethod
    def sends_files_for(dataset_dir: Path) -> bool:
        """Whether a trial on this dataset folder sends its files (it is a downloaded copy, not the shared one)."""
        return is_downloaded(dataset_dir)

    # --- trial files ----------------------------------------------------------------------------------

    def after_epoch(self, key: str, work_dir: Path) -> None:
        """Queue the trial's resume files to be sent (a newer request replaces one not yet sent)."""
        with self._changed:
            self._pending[key] = work_dir
            self._changed.notify_all()

    def send_finished(self, key: str, work_dir: Path, names: tuple[str, ...] | None = None) -> None:
        """Send the ended trial's files now (models first, LAST_FILES last); TransferError after SEND_TRIES."""
        with self._changed:  # an older background send must not land after these
            self._pending.pop(key, None)
            while self._sending == key:
                self._changed.wait(1.0)
        if names is None:
            names = tuple(n for n in TRIAL_FILES if n not in LAST_FILES) + LAST_FILES
        for name in names:
            if (work_dir / name).is_file():
                self._send_with_retries(key, work_dir / name)

    def fetch_for_resume(self, key: str, work_dir: Path) -> bool:
        """Fetch a trial's resume files from elsewhere when this service has none; whether it found any."""
        if (work_dir / "state.json").exists():
            return False
        try:
            if not self.transfer.get_trial_file(key, "state.json", work_dir / "state.json"):
                return False
            for name in RESUME_FILES:
                if name != "state.json":
                    self.transfer.get_trial_file(key, name, work_dir / name)
        except TransferError as e:
            log.warning("could not fetch trial %s to resume it: %s", key, e)
            (work_dir / "state.json").unlink(missing_ok=True)  # not half a trial: start it afresh
            return False
        log.info("fetched trial %s from %s to resume it", key, self.transfer.where)
        return True

    def _send_with_retries(self, key: str, path: Path) -> None:
        for attempt in range(1, SEND_TRIES + 1):
            try:
                self.transfer.put_trial_file(key, path.name, path)
                return
            except TransferError:
                if attempt == SEND_TRIES:
                    raise
                time.sleep(SEND_PAUSE_SECONDS * attempt)

    def _send_in_background(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                key = next(iter(self._pending))
                work_dir = self._pending.pop(key)
                self._sending = key
            try:
                for name in RESUME_FILES:
                    if (work_dir / name).is_file():
                        self.transfer.put_trial_file(key, name, work_dir / name)
            except (TransferError, OSError) as e:  # the next epoch sends again; the end retries
                log.warning("could not send trial %s's checkpoint: %s", key, e)
            finally:
                with self._changed:
                    self._sending = None
                    self._changed.notify_all()


def remote_files_from_settings(settings: TrainerSettings) -> RemoteFiles | None:
    """RemoteFiles when object storage or the platform's URL is configured; None means the shared disk only."""
    transfer = transfer_from_environment(settings.platform_url, settings.token)
    if transfer is None:
        return None
    datasets_dir = settings.datasets_dir or settings.data_dir.parent / "datasets"
    return RemoteFiles(transfer, datasets_dir, settings.datasets_cache_mb * 1_000_000)
