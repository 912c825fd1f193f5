"""Train/validation splits."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
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
        n_val = _validation_target(len(indices), val_fraction)
        for index in indices[:n_val]:
            splits[index] = "val"
    return splits


def grouped_split(labels: Sequence[int], groups: Sequence[int], val_fraction: float = 0.2, seed: int = 0) -> list[str]:
    """`stratified_split` that keeps every group (copies of one image) wholly in train or wholly in validation.

    Deterministic for a given seed, labels and groups. Without a group of two or more
    it is `stratified_split` exactly. Each class draws whole groups (those whose first
    image is of the class; a group may hold several classes) until it has about
    `val_fraction` of its images in validation, and no class gives all its images to
    validation. A class that cannot get one validation image that way (all its images
    are copies of one another) is split as `stratified_split` splits it, copies or not;
    the caller reports that leakage.
    """
    plain = stratified_split(labels, val_fraction, seed)
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    if all(len(indices) == 1 for indices in members.values()):
        return plain
    size = Counter(labels)
    by_class: dict[int, list[list[int]]] = defaultdict(list)
    for indices in sorted(members.values()):
        by_class[labels[indices[0]]].append(indices)
    rng = random.Random(seed)
    splits = ["train"] * len(labels)
    in_val: Counter[int] = Counter()
    for label in sorted(by_class):
        target = _validation_target(size[label], val_fraction)
        candidates = by_class[label]
        rng.shuffle(candidates)
        for indices in candidates:
            moving = Counter(labels[i] for i in indices)
            if in_val[label] + moving[label] <= target and _leaves_training(moving, in_val, size):
                _to_validation(indices, moving, splits, in_val)
        if in_val[label] == 0:  # every group bigger than the target: the smallest one that fits, if any
            for indices in sorted(candidates, key=len):
                moving = Counter(labels[i] for i in indices)
                if _leaves_training(moving, in_val, size):
                    _to_validation(indices, moving, splits, in_val)
                    break
    for label in sorted(size):
        if in_val[label] == 0 and size[label] >= 2:
            for index, item_label in enumerate(labels):
                if item_label == label:
                    splits[index] = plain[index]
    return splits


def _validation_target(count: int, val_fraction: float) -> int:
    target = round(count * val_fraction)
    return min(max(target, 1), count - 1) if count >= 2 else target


def _leaves_training(moving: Counter, in_val: Counter, size: Counter) -> bool:
    """True when moving these images to validation leaves every class at least one in training."""
    return all(in_val[label] + n <= size[label] - 1 for label, n in moving.items())


def _to_validation(indices: list[int], moving: Counter, splits: list[str], in_val: Counter) -> None:
    for index in indices:
        splits[index] = "val"
    in_val.update(moving)
