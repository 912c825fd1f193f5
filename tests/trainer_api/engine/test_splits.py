"""The generated split with groups of copies: never one group on both sides, deterministic, stratified."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from trainer_api.engine.manifest import generated_split
from trainer_api.engine.splits import grouped_split, stratified_split


def copies_of(labels_count: int, rng: random.Random) -> tuple[list[int], list[int]]:
    """Labels of 5 classes and groups: mostly single images, some pairs and triples, a few across classes."""
    labels, groups = [], []
    group = 0
    while len(labels) < labels_count:
        label = rng.randrange(5)
        size = rng.choice([1, 1, 1, 1, 2, 3])
        for n in range(size):
            labels.append(label if n == 0 or rng.random() > 0.2 else rng.randrange(5))
            groups.append(group)
        group += 1
    return labels, groups


def sides_of_groups(splits: list[str], groups: list[int]) -> dict[int, set[str]]:
    sides = defaultdict(set)
    for split, group in zip(splits, groups, strict=True):
        sides[group].add(split)
    return sides


def test_without_copies_it_is_the_stratified_split():
    labels = [n % 4 for n in range(103)]
    assert grouped_split(labels, list(range(103))) == stratified_split(labels)
    assert generated_split(labels, list(range(103))) == generated_split(labels)


def test_no_group_lands_on_both_sides_and_every_class_keeps_both_splits():
    for seed in range(20):
        labels, groups = copies_of(400, random.Random(seed))
        splits = generated_split(labels, groups)
        assert all(len(sides) == 1 for sides in sides_of_groups(splits, groups).values()), seed
        per_class = Counter((label, split) for label, split in zip(labels, splits, strict=True))
        for label in set(labels):
            assert per_class[(label, "train")] >= 1 and per_class[(label, "val")] >= 1, (seed, label)
        assert 0.15 <= splits.count("val") / len(splits) <= 0.22, seed


def test_the_split_is_the_same_every_time():
    labels, groups = copies_of(300, random.Random(7))
    assert generated_split(labels, groups) == generated_split(list(labels), list(groups))


def test_a_class_of_big_groups_still_gets_validation_images_without_splitting_a_group():
    # Ten images of class 0 in two groups of five: 20% would be 2, no group fits; the smaller group goes.
    labels = [0] * 10 + [1] * 10
    groups = [0] * 5 + [1] * 5 + list(range(2, 12))
    splits = grouped_split(labels, groups)
    assert all(len(sides) == 1 for sides in sides_of_groups(splits, groups).values())
    assert splits[:10].count("val") == 5


def test_a_class_made_of_one_image_is_split_as_before_and_left_to_the_leakage_report():
    labels = [0] * 6 + [1] * 6
    groups = [0] * 6 + list(range(1, 7))
    splits = grouped_split(labels, groups)
    assert splits[:6] == stratified_split(labels)[:6] and "val" in splits[:6]
