"""What the dataset page shows about copies: counts, validation leakage, and the groups to look at.

Stored on the dataset (`Dataset.duplicates`); `summarise` adds the thumbnails of the listed images.
"""

from __future__ import annotations

import numpy as np

from worker.ingest.duplicates import Copies, leaked_validation

# The page lists this many groups (leakage first), and this many images of each side by side.
MAX_GROUPS_LISTED = 30
MEMBERS_SHOWN = 6
FILES_PREFIX = "files/"


def describe(copies: Copies, paths: list[str], class_names: list[str], splits: list[str]) -> dict:
    """Counts of groups of copies (exact, near, within a class, across classes, across the split), the
    validation images that also appear in training, and the groups worth listing (members by index)."""
    leaked = leaked_validation(copies, splits)
    val_count = splits.count("val")
    groups = [
        _group(members, copies, class_names, splits)
        for members in _members_of_groups(copies.groups)
        if len(members) > 1
    ]

    def count(selected: list[dict]) -> dict:
        return {"groups": len(selected), "images": sum(len(g["members"]) for g in selected)}

    listed = sorted(groups, key=lambda g: (not g["cross_split"], not g["cross_class"], -len(g["members"]),
                                           g["members"][0]))[:MAX_GROUPS_LISTED]  # fmt: skip
    return {
        "checked": len(paths),
        "seconds": round(copies.seconds, 3),
        "truncated": copies.truncated,
        "all": count(groups),
        "exact": count([g for g in groups if g["kind"] == "exact"]),
        "near": count([g for g in groups if g["kind"] == "near"]),
        "within_class": count([g for g in groups if not g["cross_class"]]),
        "cross_class": count([g for g in groups if g["cross_class"]]),
        "cross_split": count([g for g in groups if g["cross_split"]]),
        "leaked_val": int(leaked.sum()),
        "val_count": val_count,
        "leak_percent": round(100 * int(leaked.sum()) / val_count, 1) if val_count else 0.0,
        "listed": [_listed(g, paths, class_names, splits) for g in listed],
    }


def _members_of_groups(groups: np.ndarray) -> list[list[int]]:
    """Image indices of each group, ascending, groups in the order of their first image."""
    order = np.argsort(groups, kind="stable")
    cuts = np.flatnonzero(np.diff(groups[order])) + 1
    members = [part.tolist() for part in np.split(order, cuts)]
    return sorted(members, key=lambda m: m[0])


def _group(members: list[int], copies: Copies, class_names: list[str], splits: list[str]) -> dict:
    classes = sorted({class_names[i] for i in members})
    return {
        "kind": "exact" if len({int(copies.content[i]) for i in members}) == 1 else "near",
        "classes": classes,
        "cross_class": len(classes) > 1,
        "cross_split": len({splits[i] for i in members}) > 1,
        "members": members,
    }


def _listed(group: dict, paths: list[str], class_names: list[str], splits: list[str]) -> dict:
    """The group as the page lists it: one image of each class and side first, training before validation."""
    shown: list[int] = []
    seen: set[tuple[str, str]] = set()
    for index in group["members"]:
        if (class_names[index], splits[index]) not in seen:
            seen.add((class_names[index], splits[index]))
            shown.append(index)
    shown += [i for i in group["members"] if i not in shown]
    shown = sorted(shown[:MEMBERS_SHOWN], key=lambda i: (splits[i] != "train", paths[i]))
    return {
        "kind": group["kind"],
        "classes": group["classes"],
        "cross_class": group["cross_class"],
        "cross_split": group["cross_split"],
        "size": len(group["members"]),
        "members": [
            {"index": i, "path": paths[i].removeprefix(FILES_PREFIX), "class": class_names[i], "split": splits[i]}
            for i in shown
        ],
    }
