"""From the checked images to a dataset: classes, split, statistics, thumbnails, manifest.

The manifest follows "The dataset on disk" in trainer_api/README.md.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ImageOps

from platform_web.datasets.balance import training_imbalance
from platform_web.datasets.errors import IngestionError
from trainer_api.engine.images import UnreadableImage, open_rgb
from trainer_api.engine.manifest import content_hash, generated_split, write_manifest
from worker.ingest.duplicate_report import describe
from worker.ingest.duplicates import find_copies
from worker.ingest.fingerprints import Fingerprint
from worker.ingest.layouts import LayoutPlan, check_same_classes

THUMBS_PER_CLASS = 6
THUMB_SIZE = 96
# Longer warning lists are cut here (with a count of the rest) to keep the row and the page small.
MAX_WARNINGS = 500


@dataclass(frozen=True)
class Item:
    """One kept image: where it is, its class, its split as given (or None), its size after orientation."""

    path: str
    class_name: str
    split: str | None
    width: int
    height: int
    digest: bytes  # SHA-256 of the file's bytes
    fingerprint: Fingerprint  # made while decoding, for the duplicate search


@dataclass
class IngestResult:
    """What the dataset record shows; the manifest on disk holds the per-image list."""

    classes: list[str]
    class_counts: dict[str, dict[str, int]]
    image_count: int
    train_count: int
    val_count: int
    split_source: str
    size_stats: dict
    content_hash: str
    thumbnails: dict[str, list[str]]
    warnings: list[dict] = field(default_factory=list)
    duplicates: dict = field(default_factory=dict)  # duplicate_report.describe, with thumbnails


def summarise(
    items: list[Item],
    plan: LayoutPlan,
    warnings: list[dict],
    work_dir: Path,
    on_progress: Callable[[float, str], None],
    start: float,
) -> IngestResult:
    """Check classes and splits of the readable images, write thumbnails and manifest.json."""
    items = sorted(items, key=lambda item: item.path)
    planned_classes = sorted({c.class_name for c in plan.candidates})
    _check_counts(items, planned_classes, warnings)
    classes = planned_classes
    index = {name: i for i, name in enumerate(classes)}
    on_progress(start, "Looking for duplicate images")
    copies = find_copies([item.digest for item in items], [item.fingerprint for item in items])
    if plan.split_source == "given":
        check_same_classes(
            {i.class_name for i in items if i.split == "train"}, {i.class_name for i in items if i.split == "val"}
        )
        splits = [item.split for item in items]
    else:  # copies of one image stay on one side
        splits = generated_split([index[item.class_name] for item in items], copies.groups.tolist())
    duplicates = describe(copies, [i.path for i in items], [i.class_name for i in items], splits)

    class_counts = {name: {"train": 0, "val": 0} for name in classes}
    for item, split in zip(items, splits, strict=True):
        class_counts[item.class_name][split] += 1
    warnings = _imbalance_warnings(class_counts) + warnings  # dataset-wide notices first

    on_progress(start + (1 - start) * 0.3, "Making thumbnails")
    thumbnails = _write_thumbnails(items, classes, work_dir, warnings)
    _write_duplicate_thumbnails(duplicates, items, work_dir, warnings)
    on_progress(start + (1 - start) * 0.8, "Writing the manifest")
    content_hash = _content_hash(items)
    write_manifest(
        work_dir, content_hash=content_hash, classes=classes, split_source=plan.split_source,
        items=[{"path": i.path, "label": index[i.class_name], "split": s, "width": i.width, "height": i.height}
               for i, s in zip(items, splits, strict=True)],
    )  # fmt: skip
    train_count = splits.count("train")
    return IngestResult(
        classes=classes,
        class_counts=class_counts,
        image_count=len(items),
        train_count=train_count,
        val_count=len(items) - train_count,
        split_source=plan.split_source,
        size_stats=size_statistics(items),
        content_hash=content_hash,
        thumbnails=thumbnails,
        warnings=_cap(warnings),
        duplicates=duplicates,
    )


def _check_counts(items: list[Item], classes: list[str], warnings: list[dict]) -> None:
    if not items:
        first = f" First problem: {warnings[0]['path']}: {warnings[0]['message']}." if warnings else ""
        raise IngestionError(f"No readable image found in the zip: every image file was skipped.{first}")
    counts = Counter(item.class_name for item in items)
    short = [f"“{name}” ({counts[name]})" for name in classes if counts[name] < 2]
    if short:
        raise IngestionError(
            f"Each class needs at least two readable images (one to train on, one to validate); "
            f"too few in {', '.join(short)}. Add images or remove the class folder."
        )


def _imbalance_warnings(class_counts: dict[str, dict[str, int]]) -> list[dict]:
    imbalance = training_imbalance(class_counts)
    if imbalance is None or not imbalance.imbalanced:
        return []
    return [
        {
            "path": "",
            "message": f"Class imbalance: “{imbalance.largest}” has {imbalance.largest_count:,} training images, "
            f"“{imbalance.smallest}” only {imbalance.smallest_count:,} ({imbalance.ratio:.1f}×). Accuracy may favour "
            "the large classes: new studies weigh each class's images inversely to its size (class weighting "
            "“balanced” on the new-study form), and the model page shows balanced accuracy and macro-F1.",
        }
    ]


def size_statistics(items: list[Item]) -> dict:
    """Min / median / max width and height, the number of distinct sizes and the most common one."""
    widths = [item.width for item in items]
    heights = [item.height for item in items]
    sizes = Counter((item.width, item.height) for item in items)
    (common_w, common_h), common_n = sizes.most_common(1)[0]
    return {
        "width": {"min": min(widths), "median": _plain(statistics.median(widths)), "max": max(widths)},
        "height": {"min": min(heights), "median": _plain(statistics.median(heights)), "max": max(heights)},
        "distinct_sizes": len(sizes),
        "most_common": {"width": common_w, "height": common_h, "count": common_n},
    }


def _plain(value: float) -> int | float:
    """64.0 -> 64; 64.5 stays."""
    return int(value) if float(value).is_integer() else round(value, 1)


def _write_thumbnails(items: list[Item], classes: list[str], work_dir: Path, warnings: list[dict]) -> dict:
    thumbs_dir = work_dir / "thumbs"
    thumbs_dir.mkdir(parents=True, exist_ok=True)
    thumbnails: dict[str, list[str]] = {name: [] for name in classes}
    chosen: dict[str, list[Item]] = {name: [] for name in classes}
    for item in items:  # in path order: the first few of each class
        if len(chosen[item.class_name]) < THUMBS_PER_CLASS:
            chosen[item.class_name].append(item)
    for label, name in enumerate(classes):
        for item in chosen[name]:
            file_name = f"{label}_{len(thumbnails[name])}.jpg"
            if _write_thumbnail(work_dir, item.path, file_name, warnings):
                thumbnails[name].append(file_name)
    return thumbnails


def _write_duplicate_thumbnails(duplicates: dict, items: list[Item], work_dir: Path, warnings: list[dict]) -> None:
    """Thumbnails of the listed copies, `d<group>_<n>.jpg`, named in place of each member's index.

    These images are decoded again (at most MAX_GROUPS_LISTED x MEMBERS_SHOWN), like the class
    thumbnails; the duplicate search itself only reads the fingerprints made by the first decode.
    """
    for number, group in enumerate(duplicates["listed"]):
        for n, member in enumerate(group["members"]):
            file_name = f"d{number}_{n}.jpg"
            written = _write_thumbnail(work_dir, items[member.pop("index")].path, file_name, warnings)
            member["thumb"] = file_name if written else ""


def _write_thumbnail(work_dir: Path, path: str, file_name: str, warnings: list[dict]) -> bool:
    try:
        with open_rgb(work_dir / path) as image:
            ImageOps.fit(image, (THUMB_SIZE, THUMB_SIZE)).save(work_dir / "thumbs" / file_name, "JPEG", quality=85)
    except (UnreadableImage, OSError) as e:  # decoded a moment ago; only a full disk gets here
        warnings.append({"path": path, "message": f"no thumbnail ({e})"})
        return False
    return True


def _content_hash(items: list[Item]) -> str:
    """The manifest's content hash (engine.manifest.content_hash) of the kept images, sorted by path."""
    return content_hash((item.path, item.digest) for item in items)


def _cap(warnings: list[dict]) -> list[dict]:
    if len(warnings) <= MAX_WARNINGS:
        return warnings
    rest = len(warnings) - MAX_WARNINGS
    return warnings[:MAX_WARNINGS] + [{"path": "", "message": f"… and {rest:,} more warnings not listed"}]
