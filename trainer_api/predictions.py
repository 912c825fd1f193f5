"""Classify uploaded images with a trained model; recently used models stay loaded (a small LRU cache)."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

from trainer_api import engine
from trainer_api.engine.images import UnreadableImage, open_rgb
from trainer_api.errors import BadModelPath, ModelNotFound, TrainerError
from trainer_api.trial_files import relative_path

MAX_FILES = 64
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
CACHED_MODELS = 4
MODEL_SUFFIXES = (".pth", ".safetensors")


class ModelCache:
    """Models loaded from `.pth` / `.safetensors` files under `data_dir`, the `capacity` most recently used kept in memory."""

    def __init__(self, data_dir: Path, capacity: int = CACHED_MODELS, device: str = "cpu") -> None:
        self.data_dir = Path(data_dir)
        self.capacity = capacity
        self.device = device
        self._models: OrderedDict[tuple, tuple[Any, dict]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many times a file was read (the tests check the cache is used)

    def resolve(self, model: str) -> Path:
        """The model file for a path relative to the data folder; refuses anything that leads outside it."""
        relative = Path(model)
        if not model or relative.is_absolute() or relative.suffix not in MODEL_SUFFIXES:
            raise BadModelPath(
                f"model must be a .pth or .safetensors path relative to the trainer's data folder, got {model!r}"
            )
        root = self.data_dir.resolve()
        try:
            path = (root / relative).resolve()
            inside, exists = path.is_relative_to(root), path.is_file()
        except (OSError, ValueError) as e:  # a name too long for the filesystem, a NUL byte
            raise BadModelPath(f"model path {model[:80]!r}... cannot be a file name ({type(e).__name__})") from e
        if not inside:
            raise BadModelPath(f"model path {model!r} leads outside the trainer's data folder")
        if not exists:
            raise ModelNotFound(f"No model file at {model!r} (paths are relative to the trainer's data folder).")
        return path

    def get(self, model: str) -> tuple[Any, dict]:
        """(model in eval mode, metadata) for a model path, loading it when it is not cached or has changed."""
        return self.load(self.resolve(model))

    @staticmethod
    def _key(path: Path) -> tuple:
        stat = path.stat()
        return (str(path), stat.st_mtime_ns, stat.st_size)

    def is_loaded(self, path: Path) -> bool:
        """Whether the file (as it is now) is in memory; does not count as a use."""
        try:
            key = self._key(path)
        except OSError:
            return False
        with self._lock:
            return key in self._models

    def loaded(self) -> list[str]:
        """Paths (relative to the data folder) of the models in memory, least recently used first."""
        with self._lock:
            return [relative_path(Path(key[0]), self.data_dir) for key in self._models]

    def load(self, path: Path) -> tuple[Any, dict]:
        """(model, metadata) for a file `resolve` returned; loaded unless cached (then it counts as a use)."""
        try:
            key = self._key(path)
        except OSError as e:
            raise ModelNotFound(f"No model file at {relative_path(path, self.data_dir)!r} any more.") from e
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            try:
                # The training service loads on the CPU (a prediction must not take GPU memory from a
                # trial); the inference service on INFERENCE_DEVICE.
                loaded = engine.load_model(path, device=self.device)
            except Exception as e:  # a truncated or foreign file: the caller sent a wrong path
                name = relative_path(path, self.data_dir)
                raise ModelNotFound(f"{name!r} is not a model this service can load: {e}") from e
            self.loads += 1
            self._models[key] = loaded
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return loaded


def read_image(stream: BinaryIO) -> Any:
    """One uploaded file as an RGB image; UnreadableImage with the reason (too large, not an image, corrupt)."""
    return decode_image(stream.read(MAX_FILE_BYTES + 1))


def decode_image(data: bytes) -> Any:
    """An uploaded file's bytes as an RGB image (read_image's checks)."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableImage(f"file larger than the {MAX_FILE_BYTES:,} bytes allowed")
    if not data:
        raise UnreadableImage("empty file")
    buffer = io.BytesIO(data)
    try:
        return open_rgb(buffer, max_pixels=MAX_IMAGE_PIXELS)
    except UnreadableImage as e:  # Pillow names the in-memory buffer in its messages: say nothing of it
        raise UnreadableImage(str(e).replace(f" {buffer!r}", "").replace(repr(buffer), "the file")) from e


def answer_rows(rows: list[dict]) -> list[dict]:
    """The engine's ranked rows as the API words them (`class`, `index`, `probability`)."""
    return [{"class": row["class_name"], "index": row["index"], "probability": row["probability"]} for row in rows]


def check_count(count: int) -> None:
    """Refuse a request with no image or more than MAX_FILES."""
    if not count:
        raise TrainerError("send at least one image in 'files'")
    if count > MAX_FILES:
        raise TrainerError(f"send at most {MAX_FILES} images per request, got {count}")


def predict_uploads(cache: ModelCache, model: str, uploads: list[tuple[str, BinaryIO]], top_k: int) -> dict:
    """Top-k predictions for every readable upload (one batch), and an error for each one that is not."""
    check_count(len(uploads))
    network, metadata = cache.get(model)
    results: list[dict[str, Any]] = []
    images, positions = [], []
    for filename, stream in uploads:
        try:
            images.append(read_image(stream))
            positions.append(len(results))
            results.append({"filename": filename, "predictions": None, "error": None})
        except UnreadableImage as e:
            results.append({"filename": filename, "predictions": None, "error": f"not a readable image: {e}"})
    if images:
        ranked = engine.predict(network, metadata, images, top_k=top_k)
        for position, rows in zip(positions, ranked, strict=True):
            results[position]["predictions"] = answer_rows(rows)
    return {
        "model": relative_path(cache.resolve(model), cache.data_dir),
        "class_names": list(metadata.get("class_names", [])),
        "results": results,
    }
