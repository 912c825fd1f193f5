"""Class imbalance: one threshold and one measure for the dataset page and the new-study form.

Above `IMBALANCE_RATIO` (the largest class's training images over the smallest's) the dataset
page warns that accuracy may favour the large classes, and a new study weighs each class's
images inversely to its size by default (`class_weighting = "balanced"`). bench/imbalance.py
measures what that buys on a 10:1 dataset.
"""

from __future__ import annotations

from typing import NamedTuple

IMBALANCE_RATIO = 3.0


class Imbalance(NamedTuple):
    largest: str
    largest_count: int
    smallest: str
    smallest_count: int
    ratio: float

    @property
    def imbalanced(self) -> bool:
        return self.ratio > IMBALANCE_RATIO


def training_imbalance(class_counts: dict) -> Imbalance | None:
    """The largest and smallest class by training images, and their ratio; None without classes.

    `class_counts` is `Dataset.class_counts` ({class: {"train": n, "val": n}}). A class with no
    training image makes the ratio infinite.
    """
    counts = {name: int((c or {}).get("train", 0)) for name, c in (class_counts or {}).items()}
    if len(counts) < 2:
        return None
    largest = max(counts, key=lambda n: counts[n])
    smallest = min(counts, key=lambda n: counts[n])
    low = counts[smallest]
    ratio = counts[largest] / low if low else float("inf")
    return Imbalance(largest, counts[largest], smallest, low, ratio)
