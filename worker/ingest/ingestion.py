"""Unpacking an uploaded zip into a dataset folder, checking every image on the way.

`ingest_zip` is plain Python (no database): services.py calls it with a
progress callback and records the result. It raises IngestionError for a
fatal problem; per-file problems become warnings and the file is left out.
"""

from __future__ import annotations

import errno
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platform_web.datasets.errors import IngestionError
from platform_web.datasets.zip_safety import ByteBudget, ZipLimits, check_entries, extract_entry, open_zip
from worker.ingest.dataset_summary import IngestResult, Item, summarise
from worker.ingest.image_checks import CheckResult, ImageChecker, PixelBudget, default_processes
from worker.ingest.layouts import Candidate, plan_layout

ProgressCallback = Callable[[float, str], None]

# Share of the progress bar each phase covers.
UNPACK_START, UNPACK_END = 0.02, 0.92


@dataclass(frozen=True)
class IngestSettings:
    """Limits and resources of one ingestion (built from Django settings by services.py)."""

    zip_limits: ZipLimits
    max_pixels: int
    # Decoded pixels of the whole dataset, and per byte of the zip (see PixelBudget).
    max_total_pixels: int = 50_000_000_000
    max_pixels_per_zip_byte: float = 1000.0
    processes: int = default_processes()
    # Fewer images than this are decoded in this process: starting a pool costs more than it saves.
    pool_threshold: int = 500
    batch_size: int = 128


def ingest_zip(zip_path: Path, work_dir: Path, config: IngestSettings, on_progress: ProgressCallback) -> IngestResult:
    """Unpack `zip_path` into `work_dir` (files/, thumbs/, manifest.json) and describe the dataset.

    Nothing is written before every entry has passed the safety checks. The
    caller removes `work_dir` when this raises.
    """
    on_progress(0.0, "Checking the zip")
    with open_zip(zip_path) as zf:
        try:
            infos = zf.infolist()
            check_entries(infos, config.zip_limits)
            plan = plan_layout([info.filename for info in infos if not info.is_dir()])
            by_name: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                by_name.setdefault(info.filename, info)
            items, warnings = _unpack(zf, by_name, plan.candidates, work_dir, config, on_progress)
        except (OSError, EOFError) as e:
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise  # the disk is full, not the zip broken: job.py says so
            # Reading the upload itself failed (truncated file, disk error).
            raise IngestionError(f"The uploaded zip could not be read to the end ({e}); upload it again.") from e
    return summarise(items, plan, plan.warnings + warnings, work_dir, on_progress, UNPACK_END)


def zip_bytes(zf: zipfile.ZipFile) -> int:
    """The uploaded zip's size on disk."""
    return os.path.getsize(zf.filename) if zf.filename else 0


def _unpack(
    zf: zipfile.ZipFile,
    by_name: dict[str, zipfile.ZipInfo],
    candidates: list[Candidate],
    work_dir: Path,
    config: IngestSettings,
    on_progress: ProgressCallback,
) -> tuple[list[Item], list[dict]]:
    """Extract every candidate (counting real bytes) while a pool decodes the extracted files."""
    total = len(candidates)
    budget = ByteBudget(config.zip_limits, compressed_bytes=sum(by_name[c.entry].compress_size for c in candidates))
    pixels = PixelBudget(config.max_total_pixels, config.max_pixels_per_zip_byte, zip_bytes(zf))
    processes = config.processes if total >= config.pool_threshold else 1
    checker = ImageChecker(config.max_pixels, processes)
    batches: dict[int, list[tuple[Candidate, bytes, Path]]] = {}
    batch: list[tuple[Candidate, bytes, Path]] = []
    made_dirs: set[Path] = set()
    seen: set[str] = set()
    items: list[Item] = []
    warnings: list[dict] = []
    extracted = checked = 0
    next_batch_id = 0

    def submit(batch: list[tuple[Candidate, bytes, Path]]) -> None:
        nonlocal next_batch_id
        batches[next_batch_id] = batch
        checker.submit(next_batch_id, [str(target) for _, _, target in batch])
        next_batch_id += 1

    def collect(wait: bool) -> None:
        nonlocal checked
        for batch_id, results in checker.finished(wait=wait):
            for (candidate, digest, target), result in zip(batches.pop(batch_id), results, strict=True):
                item = _accept(candidate, digest, target, result, config.max_pixels, warnings)
                if item:
                    items.append(item)
            checked += len(results)

    def report() -> None:
        done = (extracted + checked) / (2 * total) if total else 1.0
        on_progress(
            UNPACK_START + (UNPACK_END - UNPACK_START) * done,
            f"Unpacking and checking images: {checked:,} of {total:,} checked",
        )

    try:
        for candidate in candidates:
            if candidate.path in seen:
                warnings.append({"path": candidate.entry, "message": "duplicate entry in the zip, skipped"})
                continue
            seen.add(candidate.path)
            target = work_dir / candidate.path
            try:
                if target.parent not in made_dirs:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made_dirs.add(target.parent)
                digest = extract_entry(zf, by_name[candidate.entry], target, budget)
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise  # job.py says so, whichever step ran out of space
                # A name clash (a file and a folder of the same name): skip the file, keep going.
                warnings.append({"path": candidate.entry, "message": f"could not be written ({e.strerror}), skipped"})
                continue
            pixels.take(target, candidate.entry)  # from the header: refused before the pool decodes it
            batch.append((candidate, digest, target))
            extracted += 1
            if len(batch) >= config.batch_size:
                submit(batch)
                batch = []
                collect(wait=False)
                report()
        if batch:
            submit(batch)
        collect(wait=True)
        report()
    finally:
        checker.close()
    return items, warnings


def _accept(
    candidate: Candidate, digest: bytes, target: Path, result: CheckResult, max_pixels: int, warnings: list[dict]
) -> Item | None:
    if isinstance(result, str):
        if result.startswith("too many pixels"):
            message = f"image over the pixel limit ({max_pixels:,} pixels), skipped"
        else:
            message = f"unreadable image (corrupt or truncated: {result}), skipped"
        warnings.append({"path": candidate.entry, "message": message})
        os.unlink(target)
        return None
    width, height, fingerprint = result
    return Item(candidate.path, candidate.class_name, candidate.split, width, height, digest, fingerprint)
