"""Train/validation splits."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence


def stratified_split(labels: Sequence[int], val_fraction: float = 0.2, seed: int = 0) -> list[str]:
    """Assign "train" or "val" to each item so every class keeps about `val_fraction` for validation.

    Deterministic for a given seed and label order. A class with at least two
    items always keeps at least one in each split.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must be between 0 and 1")
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    rng = random.Random(seed)
    splits = ["train"] * len(labels)
    for label in sorted(by_class):
        indices = by_class[label]
        rng.shuffle(indices)
        n_val = round(len(indices) * val_fraction)
        if len(indices) >= 2:
            n_val = min(max(n_val, 1), len(indices) - 1)
        for index in indices[:n_val]:
            splits[index] = "val"
    return splits
