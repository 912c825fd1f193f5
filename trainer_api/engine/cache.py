"""The dataset cache: each dataset decoded once per input size into one memory-mapped uint8 file.

Layout in `cache_dir` for a dataset with content hash H at input size S:

    v1-H-Spx.npy    uint8 array (N, 3, S, S) in manifest order (NumPy .npy, memory-mapped on load)
    v1-H-Spx.json   labels, splits, classes, training-split mean/std; written last, so it marks
                    the .npy as complete
    v1-H-Spx.lock   flock(2) lock held while decoding: concurrent trials (threads or processes)
                    wait for the first one instead of decoding the same thing again

Both files are written under temporary names and renamed into place, so a half-written
cache is never read; a .json whose .npy does not match it is ignored and rebuilt.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DatasetError
from .images import UnreadableImage, open_rgb, resize_square
from .manifest import Manifest, read_manifest

CACHE_FORMAT = 1


@dataclass(frozen=True)
class DatasetTensors:
    """A decoded dataset: `images` is uint8 (N, 3, S, S) memory-mapped from the cache file.

    `mean`/`std` are per-channel statistics of the training split on the 0..1 scale.
    `built` says whether this call decoded the images (False: reused the cache).
    """

    images: torch.Tensor
    labels: torch.Tensor
    train_index: torch.Tensor
    val_index: torch.Tensor
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    content_hash: str
    cache_path: Path
    built: bool
    build_seconds: float


def prepare_dataset(
    dataset_dir: str | Path, cache_dir: str | Path, input_size: int, *, workers: int | None = None
) -> DatasetTensors:
    """Return the dataset decoded at `input_size`, decoding it only if no complete cache exists.

    Safe to call from many threads and processes at once: one decodes, the others wait and
    then memory-map its file. Raises DatasetError when the manifest or an image is unusable.
    """
    manifest = read_manifest(dataset_dir)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_dir / f"v{CACHE_FORMAT}-{manifest.content_hash}-{input_size}px"
    loaded = _load(stem, manifest, input_size)
    if loaded is not None:
        return loaded
    with _file_lock(stem.with_suffix(".lock")):
        loaded = _load(stem, manifest, input_size)  # built by whoever held the lock before us
        if loaded is not None:
            return loaded
        started = time.perf_counter()
        build_cache(manifest, input_size, stem, workers=workers or min(8, os.cpu_count() or 1))
        seconds = time.perf_counter() - started
    loaded = _load(stem, manifest, input_size, built=True, build_seconds=seconds)
    if loaded is None:
        raise DatasetError(f"The dataset cache {stem}.npy could not be read back after writing it")
    return loaded


def build_cache(manifest: Manifest, size: int, stem: Path, *, workers: int) -> None:
    """Decode every image of `manifest` at `size` into `<stem>.npy` + `<stem>.json` (atomically)."""
    count = len(manifest.paths)
    needed = count * 3 * size * size
    free = shutil.disk_usage(stem.parent).free
    if needed > free:
        raise DatasetError(
            f"The decoded dataset needs {needed / 2**30:.1f} GiB in {stem.parent} but only "
            f"{free / 2**30:.1f} GiB is free; choose a smaller input size or free disk space"
        )
    for stale in stem.parent.glob(f"{stem.name}.*.tmp-*"):
        stale.unlink(missing_ok=True)  # left by a crashed writer; we hold the lock
    token = f"tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    data_tmp = stem.parent / f"{stem.name}.npy.{token}"
    meta_tmp = stem.parent / f"{stem.name}.json.{token}"
    try:
        array = np.lib.format.open_memmap(data_tmp, mode="w+", dtype=np.uint8, shape=(count, 3, size, size))
        sums = np.zeros((count, 2, 3), dtype=np.float64)  # per image: channel sums, sums of squares

        with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow releases the GIL while decoding
            jobs = [pool.submit(_decode_into, array, sums, i, path, size) for i, path in enumerate(manifest.paths)]
            for job in jobs:
                job.result()
        array.flush()
        del array
        _fsync(data_tmp)
        train = np.array([s == "train" for s in manifest.splits])
        pixels_per_channel = train.sum() * size * size
        mean = sums[train, 0].sum(axis=0) / pixels_per_channel
        var = sums[train, 1].sum(axis=0) / pixels_per_channel - mean**2
        std = np.sqrt(np.maximum(var, 0.0))
        meta = {
            "format": CACHE_FORMAT,
            "content_hash": manifest.content_hash,
            "input_size": size,
            "count": count,
            "classes": manifest.classes,
            "labels": manifest.labels,
            "splits": "".join("t" if s == "train" else "v" for s in manifest.splits),
            # 0..1 scale; a constant channel gets std 1 so normalising never divides by zero
            "mean": [float(m) / 255.0 for m in mean],
            "std": [float(s) / 255.0 if s > 1e-6 else 1.0 for s in std],
            "resize": "squash to size x size, Pillow bilinear",
        }
        meta_tmp.write_text(json.dumps(meta), encoding="utf-8")
        _fsync(meta_tmp)
        os.replace(data_tmp, stem.with_suffix(".npy"))
        os.replace(meta_tmp, stem.with_suffix(".json"))  # last: marks the pair complete
        _fsync_dir(stem.parent)
    finally:
        data_tmp.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)


def _decode_into(array: np.ndarray, sums: np.ndarray, index: int, path: Path, size: int) -> None:
    try:
        image = resize_square(open_rgb(path), size)
    except UnreadableImage as e:
        raise DatasetError(f"Cannot decode {path}: {e}") from e
    pixels = np.asarray(image, dtype=np.uint8)  # (S, S, 3)
    array[index] = pixels.transpose(2, 0, 1)
    flat = pixels.reshape(-1, 3).astype(np.float64)
    sums[index, 0] = flat.sum(axis=0)
    sums[index, 1] = np.square(flat).sum(axis=0)


def _load(stem: Path, manifest: Manifest, size: int, *, built: bool = False, build_seconds: float = 0.0):
    meta_path, data_path = stem.with_suffix(".json"), stem.with_suffix(".npy")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        array = np.load(data_path, mmap_mode="c")  # copy-on-write: writable for torch, file untouched
    except (OSError, ValueError):
        return None
    count = len(manifest.paths)
    expected_splits = "".join("t" if s == "train" else "v" for s in manifest.splits)
    if (
        meta.get("format") != CACHE_FORMAT
        or array.shape != (count, 3, size, size)
        or array.dtype != np.uint8
        or meta.get("labels") != manifest.labels
        or meta.get("splits") != expected_splits
        or meta.get("classes") != manifest.classes
    ):
        return None
    is_train = torch.tensor([c == "t" for c in expected_splits])
    return DatasetTensors(
        images=torch.from_numpy(array),
        labels=torch.tensor(manifest.labels, dtype=torch.int64),
        train_index=torch.nonzero(is_train).flatten(),
        val_index=torch.nonzero(~is_train).flatten(),
        classes=list(manifest.classes),
        mean=tuple(meta["mean"]),
        std=tuple(meta["std"]),
        input_size=size,
        content_hash=manifest.content_hash,
        cache_path=data_path,
        built=built,
        build_seconds=build_seconds,
    )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # flock locks belong to the open file description, so two threads of one process
    # that each open the file exclude each other just like two processes do.
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
