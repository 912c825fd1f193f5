"""One trial as the service tracks it (`LiveTrial`) and as it answers for it (`status_of`).

A trial the service was running when it stopped reads as `failed` with `resumable: true`
until its key is POSTed again (trials.py resumes it from the engine's last checkpoint).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer_api.contract import FINISHED_STATES

INTERRUPTED = (
    "The training service stopped while this trial was running (it was killed or restarted). "
    "POST the same key again to resume it from its last checkpoint."
)


@dataclass
class LiveTrial:
    """A trial started by this process and not finished yet."""

    key: str
    work_dir: Path
    request: dict[str, Any]
    state: str = "queued"
    epochs_done: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    cancel_requested: bool = False
    interrupted: bool = False  # stopped by the service's shutdown, not by a user: stays resumable
    thread: threading.Thread | None = None
    dataset_dir: Path | None = None  # known once found (or downloaded: remote_files.py)
    sends_files: bool = False  # its dataset was downloaded: its files go back the same way

    def stored(self) -> dict[str, Any]:
        return {
            "key": self.key, "state": self.state, "epochs_done": self.epochs_done,
            "epochs": self.request["config"].get("epochs"), "error": None, "result": None,
            "cancel_requested": self.cancel_requested, "request": self.request, "updated_at": time.time(),
        }  # fmt: skip


def status_of(stored: dict[str, Any], *, live: bool) -> dict[str, Any]:
    """The TrialStatus of a stored state; an unfinished trial that is not running here reads as interrupted."""
    status = {name: stored.get(name) for name in ("key", "state", "epochs_done", "epochs", "error", "result")}
    status["cancel_requested"] = bool(stored.get("cancel_requested"))
    status["resumable"] = False
    if not live and status["state"] not in FINISHED_STATES:
        status.update(state="failed", error=INTERRUPTED, resumable=True)
    return status
