"""Measuring ONNX models with onnxruntime on the CPU: accuracy on the validation split and latency.

Used to decide whether a quantised model is offered (`quantize.py`): both the float
export and the INT8 model are measured the same way, in the same process, one after
the other, so their figures compare.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime

from .errors import DatasetError
from .images import UnreadableImage, open_rgb
from .inference import prepare_images
from .manifest import read_manifest

# Warm up first (the first runs allocate buffers and pick kernels), then time runs one by one and take the
# median, so a burst of other work on the machine does not become the model's figure (as artefact.py does).
WARMUP_SECONDS = 0.1
TIMING_SECONDS = 0.4
MIN_RUNS, MAX_RUNS = 7, 200


def cpu_session(path: str | Path, threads: int) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session pinned to `threads` intra-op threads and one inter-op thread.

    Pinned, not left to onnxruntime's default (every core): figures taken on a busy worker
    would otherwise depend on what else runs, and the float and INT8 runs must use alike.
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # the quantised graph's "could not fuse" notices are not the user's business
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def image_batches(dataset_dir: str | Path, metadata: dict[str, Any], split: str, *, limit: int | None = None,
                  batch_size: int = 64):  # fmt: skip
    """(inputs float32 (N, 3, S, S), labels) batches of the `split` images, prepared exactly as for prediction.

    With `limit`, at most that many images, picked evenly through the split so every class
    is likely represented. Files that can no longer be read are left out.
    """
    manifest = read_manifest(dataset_dir)
    items = [(p, y) for p, y, s in zip(manifest.paths, manifest.labels, manifest.splits, strict=True) if s == split]
    if limit is not None and len(items) > limit:
        step = len(items) / limit
        items = [items[int(i * step)] for i in range(limit)]
    for start in range(0, len(items), batch_size):
        images, labels = [], []
        for path, label in items[start : start + batch_size]:
            try:
                images.append(open_rgb(path))
            except UnreadableImage:
                continue  # ingestion kept only readable files; a file changed since is simply not used
            labels.append(label)
        if images:
            yield prepare_images(images, metadata).numpy(), np.asarray(labels)


@dataclass(frozen=True)
class Agreement:
    """Two models classified the same `images` validation images."""

    images: int
    correct_a: int
    correct_b: int
    same_prediction: int

    @property
    def accuracy_a(self) -> float:
        return self.correct_a / self.images

    @property
    def accuracy_b(self) -> float:
        return self.correct_b / self.images


def compare_on_validation(path_a: Path, path_b: Path, dataset_dir: str | Path, metadata: dict[str, Any],
                          *, threads: int) -> Agreement:  # fmt: skip
    """Classify every validation image with both ONNX models: each one's correct count, and how often they agree."""
    a, b = cpu_session(path_a, threads), cpu_session(path_b, threads)
    images = correct_a = correct_b = same = 0
    for inputs, labels in image_batches(dataset_dir, metadata, "val"):
        guess_a = a.run(None, {"input": inputs})[0].argmax(axis=1)
        guess_b = b.run(None, {"input": inputs})[0].argmax(axis=1)
        images += len(labels)
        correct_a += int((guess_a == labels).sum())
        correct_b += int((guess_b == labels).sum())
        same += int((guess_a == guess_b).sum())
    if not images:
        raise DatasetError("No validation image could be read to check the quantised model on.")
    return Agreement(images, correct_a, correct_b, same)


def _median_ms_per_image(session: onnxruntime.InferenceSession, inputs: np.ndarray) -> float:
    def timed() -> float:
        started = time.perf_counter()
        session.run(None, {"input": inputs})
        return time.perf_counter() - started

    warm_until = time.perf_counter() + WARMUP_SECONDS
    for done in range(MAX_RUNS):
        timed()
        if done >= 2 and time.perf_counter() > warm_until:
            break
    times: list[float] = []
    stop_at = time.perf_counter() + TIMING_SECONDS
    while len(times) < MIN_RUNS or (time.perf_counter() < stop_at and len(times) < MAX_RUNS):
        times.append(timed())
    return statistics.median(times) * 1000.0 / len(inputs)


def latency_ms(paths: dict[str, Path], input_size: int, batches: tuple[int, ...], *, threads: int,
               rounds: int = 2) -> dict[str, dict[int, float]]:  # fmt: skip
    """Milliseconds per image of each model at each batch size: {name: {batch: ms}} (onnxruntime, CPU).

    The models are timed in turn, for `rounds` rounds, and each keeps its fastest round's
    median: other work on the machine only ever adds time, and interleaving spreads it over
    every model rather than one.
    """
    sessions = {name: cpu_session(path, threads) for name, path in paths.items()}
    rng = np.random.default_rng(0)
    inputs = {b: rng.standard_normal((b, 3, input_size, input_size), dtype=np.float32) for b in batches}
    best: dict[str, dict[int, float]] = {name: {} for name in paths}
    for _ in range(max(1, rounds)):
        for batch in batches:
            for name, session in sessions.items():
                ms = _median_ms_per_image(session, inputs[batch])
                best[name][batch] = min(ms, best[name].get(batch, ms))
    return best
