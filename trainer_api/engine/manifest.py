"""A ready dataset folder's manifest.json: written by ingestion, read by the engine (trainer_api/README.md).

The one place that knows its fields and the split rule for images without a given split.
Imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import DatasetError
from .splits import grouped_split, stratified_split

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
# A dataset without a given split keeps this fraction of each class for validation, always the same images.
VALIDATION_FRACTION = 0.2
SPLIT_SEED = 0


def generated_split(labels: list[int], groups: list[int] | None = None) -> list[str]:
    """ "train"/"val" for each label: the split of a dataset that came without one (stratified, seeded).

    With `groups` (one id per image; images with one id are copies of one another), each
    group lands wholly on one side (`splits.grouped_split`).
    """
    if groups is None:
        return stratified_split(labels, VALIDATION_FRACTION, seed=SPLIT_SEED)
    return grouped_split(labels, groups, VALIDATION_FRACTION, seed=SPLIT_SEED)


def write_manifest(folder: str | Path, *, content_hash: str, classes: list[str], split_source: str,
                   items: list[dict]) -> None:  # fmt: skip
    """Write `<folder>/manifest.json` atomically. `items`: {"path", "label", "split", "width", "height"} each."""
    manifest = {"format": MANIFEST_FORMAT, "content_hash": content_hash, "classes": classes,
                "split_source": split_source, "items": items}  # fmt: skip
    temporary = Path(folder) / f"{MANIFEST_NAME}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(manifest, out, ensure_ascii=False, separators=(",", ":"))
    os.replace(temporary, Path(folder) / MANIFEST_NAME)


def content_hash(entries: Iterable[tuple[str, bytes]]) -> str:
    """A dataset's content hash: SHA-256 over (path, NUL, SHA-256 of the file's bytes) of every image, in path order.

    `entries`: (path relative to the dataset folder, the file's SHA-256 digest), sorted by path.
    Ingestion records it in the manifest; a trainer that downloads a dataset checks its copy against it.
    """
    digest = hashlib.sha256()
    for path, file_digest in entries:
        digest.update(path.encode("utf-8") + b"\0" + file_digest)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """A dataset's images, labels and train/validation split, in manifest order."""

    root: Path
    content_hash: str
    classes: list[str]
    paths: list[Path]
    labels: list[int]
    splits: list[str]
    split_source: str


def read_manifest(dataset_dir: str | Path) -> Manifest:
    """Load and check `<dataset_dir>/manifest.json`; raise DatasetError with the reason when unusable.

    Items without a `split` get one from `generated_split` (the rule ingestion uses), so
    a manifest that omits splits still trains reproducibly.
    """
    root = Path(dataset_dir)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(f"No dataset at {root}: manifest.json is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(f"Cannot read {path}: {e}") from e
    if not isinstance(data, dict):
        raise DatasetError(f"{path} is not a JSON object")
    classes = data.get("classes")
    items = data.get("items")
    content_hash = data.get("content_hash")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise DatasetError(f"{path}: needs at least two classes (a list of names)")
    if not isinstance(items, list) or not items:
        raise DatasetError(f"{path}: lists no images")
    if not isinstance(content_hash, str) or not content_hash.isalnum():
        raise DatasetError(f"{path}: content_hash is missing or not a hex digest")
    paths, labels, splits = [], [], []
    for index, item in enumerate(items):
        try:
            relative, label = item["path"], item["label"]
        except (KeyError, TypeError) as e:
            raise DatasetError(f"{path}: item {index} needs 'path' and 'label'") from e
        if not isinstance(label, int) or not 0 <= label < len(classes):
            raise DatasetError(f"{path}: item {index} has label {label!r} outside 0..{len(classes) - 1}")
        # A lexical check (no per-file resolve(): that is a dozen syscalls per image); ingestion
        # extracts no symbolic links, so no link can lead out of the folder either.
        relative = PurePosixPath(str(relative))
        if relative.is_absolute() or ".." in relative.parts:
            raise DatasetError(f"{path}: item {index} points outside the dataset folder")
        paths.append(root / relative)
        labels.append(label)
        splits.append(item.get("split"))
    split_source = str(data.get("split_source") or "given")
    if any(s not in ("train", "val") for s in splits):
        splits = generated_split(labels)
        split_source = "generated"
    for name in ("train", "val"):
        if name not in splits:
            raise DatasetError(f"{path}: the {name} split is empty; a dataset needs images in both splits")
    return Manifest(root, content_hash, list(classes), paths, labels, splits, split_source)
