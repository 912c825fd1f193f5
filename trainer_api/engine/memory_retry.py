"""A trial that runs out of device memory starts again once, from the beginning, with half its batch size.

The retry is written to the trial folder (`out_of_memory.json`) before it starts, so a retried
trial that is cancelled or interrupted resumes with the smaller batch, and it is reported in
config.json and in the result (`TrialResult.out_of_memory_retry`), which the study shows.
A second shortage fails the trial with OutOfDeviceMemory: halving again would change the
trial's configuration too far from what the search asked for.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import torch

from .checkpoint import atomic_write_json
from .errors import EngineError

RECORD_FILE = "out_of_memory.json"
# The smallest batch a retry may use: batch norm cannot train on one image per batch.
MIN_BATCH_SIZE = 2
_ERROR_CHARS = 200

Result = TypeVar("Result")


class OutOfDeviceMemory(EngineError):
    """The trial ran out of device memory and a retry with half the batch size did not help (or was too small)."""


@dataclass(frozen=True)
class MemoryRetry:
    """The retry of a trial that ran out of memory at `failed_batch_size`: it trains with `batch_size`."""

    failed_batch_size: int
    batch_size: int
    error: str

    def note(self) -> str:
        """What the trial's result message says about it."""
        return (
            f"ran out of device memory at batch size {self.failed_batch_size}, "
            f"so it was retried from the start with batch size {self.batch_size}"
        )

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def read_retry(work_dir: Path) -> MemoryRetry | None:
    """The retry recorded in `work_dir`, if this trial already ran out of memory once."""
    try:
        return MemoryRetry(**json.loads((work_dir / RECORD_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def run_with_memory_retry(
    attempt: Callable[[MemoryRetry | None], Result], *, work_dir: Path, batch_size: int, device: torch.device
) -> Result:
    """`attempt(None)`; on torch.OutOfMemoryError, `attempt(retry)` once with half of `batch_size`.

    `batch_size` is the one the first attempt trains with. The retry starts from scratch (the
    checkpoint's schedule counts the old batch size's steps) and is recorded first. The
    retry runs after the `except` block has ended: the error's traceback holds the failed
    attempt's frames, and with them its model, optimiser and batches on the device.
    """
    retry = read_retry(work_dir)
    if retry is None:
        try:
            return attempt(None)
        except torch.OutOfMemoryError as e:
            error = _first_line(e)
        half = batch_size // 2
        if half < MIN_BATCH_SIZE:
            raise OutOfDeviceMemory(
                f"Out of device memory at batch size {batch_size} ({error}); it is too small to halve: "
                "choose a smaller input size or network, or a device with more memory"
            )
        release_device_memory(device)
        (work_dir / "checkpoint.pt").unlink(missing_ok=True)
        retry = MemoryRetry(failed_batch_size=batch_size, batch_size=half, error=error)
        atomic_write_json(work_dir / RECORD_FILE, retry.to_dict())
    try:
        return attempt(retry)
    except torch.OutOfMemoryError as e:
        raise OutOfDeviceMemory(
            f"Out of device memory at batch size {retry.batch_size} too ({_first_line(e)}), after batch size "
            f"{retry.failed_batch_size} ran out and was retried once with half: choose a smaller batch size, "
            "input size or network, or a device with more memory"
        ) from e


def release_device_memory(device: torch.device) -> None:
    """Free what a failed attempt left: its reference cycles, then the CUDA allocator's cached blocks."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _first_line(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text[:_ERROR_CHARS]
