"""Tiny generated image datasets in the manifest layout of trainer_api/README.md (for tests and benchmarks).

    make_dataset_dir(tmp_path / "ds", classes=2, per_class=8, size=16, kind="bright_dark")

`bright_dark`: class k is a noisy image whose brightness falls with k (easy to learn).
`patterns`: class k is one of ten textures (stripes, checkerboard, disc, gradients, ...)
in random colours, so a model has to look at shapes rather than mean colour.
`blank`: every image of every class is the same grey square (nothing to learn).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from trainer_api.engine.manifest import content_hash


def make_dataset_dir(
    root: str | Path,
    classes: int | Sequence[str] = 2,
    per_class: int = 8,
    size: int = 16,
    kind: str = "bright_dark",
    *,
    val_fraction: float = 0.25,
    with_split: bool = True,
    seed: int = 0,
    image_format: str = "png",
) -> Path:
    """Write `per_class` images per class under `root/files/...` plus `root/manifest.json`; return `root`.

    With `with_split` the files lie in `files/train/<class>/` and `files/val/<class>/` (the
    last `round(per_class * val_fraction)` of each class, at least one) and every manifest
    item names its split; without it they lie in `files/<class>/` and items have no split.
    """
    root = Path(root)
    names = [f"class_{i:02d}" for i in range(classes)] if isinstance(classes, int) else list(classes)
    if names != sorted(names) or len(names) < 2:
        raise ValueError("class names must be at least two and in alphabetical order (the manifest contract)")
    rng = np.random.default_rng(seed)
    n_val = max(1, round(per_class * val_fraction)) if with_split else 0
    items = []
    for label, name in enumerate(names):
        for i in range(per_class):
            split = ("val" if i >= per_class - n_val else "train") if with_split else None
            relative = Path("files", *([split] if split else []), name, f"{i:04d}.{image_format}")
            pixels = _draw(kind, label, len(names), size, rng)
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels, "RGB").save(target)
            item = {"path": relative.as_posix(), "label": label, "width": size, "height": size}
            if split:
                item["split"] = split
            items.append(item)
    listed = sorted(item["path"] for item in items)
    manifest = {
        "format": 1,
        "content_hash": content_hash((path, hashlib.sha256((root / path).read_bytes()).digest()) for path in listed),
        "classes": names,
        "split_source": "given" if with_split else "generated",
        "items": items,
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return root


def _draw(kind: str, label: int, num_classes: int, size: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "bright_dark":
        level = 220 - 185 * label / max(1, num_classes - 1)
        pixels = level + rng.normal(0, 12, (size, size, 3))
        return np.clip(pixels, 0, 255).astype(np.uint8)
    if kind == "blank":
        return np.full((size, size, 3), 128, dtype=np.uint8)
    if kind != "patterns":
        raise ValueError(f"unknown kind {kind!r}")
    y, x = np.mgrid[0:size, 0:size] / size
    period = 0.25 + 0.1 * (label // 10)
    phase = rng.uniform(0, 1)
    masks = [
        (y / period + phase) % 1 < 0.5,  # horizontal stripes
        (x / period + phase) % 1 < 0.5,  # vertical stripes
        ((x / period + phase).astype(int) + (y / period).astype(int)) % 2 == 0,  # checkerboard
        ((x + y) / period + phase) % 1 < 0.5,  # diagonal stripes
        (x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.09,  # disc
        (np.abs(x - 0.5) < 0.12) | (np.abs(y - 0.5) < 0.12),  # cross
        x < 0.3 + 0.4 * phase,  # left block
        y < 0.3 + 0.4 * phase,  # top block
        np.abs(x - y) < 0.15,  # diagonal line
        (np.abs(x - 0.5) < 0.3) & (np.abs(y - 0.5) < 0.3) & ~((np.abs(x - 0.5) < 0.15) & (np.abs(y - 0.5) < 0.15)),
    ]
    mask = masks[label % 10]
    background = rng.uniform(0, 110, 3)
    foreground = rng.uniform(145, 255, 3)
    pixels = np.where(mask[..., None], foreground, background) + rng.normal(0, 10, (size, size, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)
