"""Decoding every extracted image, in a small process pool when there are many.

The functions here touch no database and no Django: they run in pool workers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from platform_web.datasets.errors import IngestionError
from trainer_api.engine.images import open_rgb
from worker.ingest.fingerprints import Fingerprint, fingerprint

# (width, height) after EXIF orientation and the fingerprint, or the reason the file is unusable.
CheckResult = tuple[int, int, Fingerprint] | str


def check_images(paths: list[str], max_pixels: int) -> list[CheckResult]:
    """Fully decode each file the way training will (`open_rgb`); report its size and fingerprint
    (for the duplicate search, from this one decode), or why it failed."""
    results: list[CheckResult] = []
    for path in paths:
        try:
            with open_rgb(path, max_pixels=max_pixels) as image:
                results.append((*image.size, fingerprint(image)))
        except Exception as e:  # noqa: BLE001 - UnreadableImage, or a decoder broken by a malformed file
            results.append(_reason(e, path))
    return results


# Below this many decoded pixels a dataset is never refused for its pixels per zip byte.
PIXEL_RATIO_FLOOR = 200_000_000


class PixelBudget:
    """Counts the pixels the images will decode to, from their headers, before any is decoded.

    A small file can declare a huge image (a 30 KB 1-bit PNG of 9400 x 9400 decodes to
    265 MB), so a zip of a few dozen ties up ingestion for everyone. Refused: more than
    `max_total` pixels in all, or, past PIXEL_RATIO_FLOOR, more than `max_per_byte`
    pixels per byte of the uploaded zip (photos and scans decode to a few to a few
    hundred pixels per byte).
    """

    def __init__(self, max_total: int, max_per_byte: float, zip_bytes: int) -> None:
        self.max_total = max_total
        self.max_per_byte = max_per_byte
        self.zip_bytes = max(1, zip_bytes)
        self.pixels = 0

    def take(self, path: Path, entry: str) -> None:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception:  # noqa: BLE001 - unreadable: the decode reports it with its reason
            return
        self.pixels += width * height
        if self.pixels > self.max_total:
            raise IngestionError(
                f"The images decode to more than {self.max_total:,} pixels in all (reached at “{entry}”, "
                f"{width} x {height}); the limit is DATASET_MAX_PIXELS. Resize the images or upload fewer."
            )
        if self.pixels > PIXEL_RATIO_FLOOR and self.pixels > self.max_per_byte * self.zip_bytes:
            raise IngestionError(
                f"The images decode to {self.pixels:,} pixels from a {self.zip_bytes:,}-byte zip, more than "
                f"{self.max_per_byte:g} pixels per byte (reached at “{entry}”, {width} x {height}). Files this small "
                "that decode this large are refused: resize the images to the size you train at."
            )


def _reason(error: Exception, path: str) -> str:
    # Pillow names the file by its server path: the user knows it by its zip entry (shown beside).
    text = str(error).replace(f" '{path}'", "").replace(path, "the file").strip() or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class ImageChecker:
    """Checks batches of files, in `processes` worker processes (or inline when 1).

    Batches are submitted while extraction continues; `results()` yields
    `(batch_id, results)` for finished batches.
    """

    def __init__(self, max_pixels: int, processes: int) -> None:
        self.max_pixels = max_pixels
        self.pending: dict[Future, int] = {}
        self.done: list[tuple[int, list[CheckResult]]] = []
        self.pool: ProcessPoolExecutor | None = None
        self._daemon_flag = None
        if processes > 1:
            self._allow_children()
            # fork: workers start at once and inherit the imports; they only decode files.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self.pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context(method))

    def _allow_children(self) -> None:
        # Celery's prefork workers are daemonic processes, and multiprocessing refuses
        # to start children from one ("daemonic processes are not allowed to have
        # children") because a killed daemon would orphan them. This pool lives
        # inside one task and is shut down before the task returns, and its
        # workers exit when their parent's pipe closes; so the flag is lifted
        # while the pool exists and restored by close().
        config = multiprocessing.current_process()._config
        if config.get("daemon"):
            self._daemon_flag = config["daemon"]
            config["daemon"] = False

    def submit(self, batch_id: int, paths: list[str]) -> None:
        if self.pool is None:
            self.done.append((batch_id, check_images(paths, self.max_pixels)))
        else:
            self.pending[self.pool.submit(check_images, paths, self.max_pixels)] = batch_id

    def finished(self, wait: bool = False) -> Iterator[tuple[int, list[CheckResult]]]:
        """Results of the batches finished so far (all of them when `wait`)."""
        yield from self.done
        self.done.clear()
        for future in list(self.pending):
            if wait or future.done():
                batch_id = self.pending.pop(future)
                yield batch_id, future.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        if self._daemon_flag is not None:
            multiprocessing.current_process()._config["daemon"] = self._daemon_flag
            self._daemon_flag = None


def default_processes() -> int:
    """Two decoding processes where there are two CPUs or more."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1
