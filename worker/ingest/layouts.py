"""Which zip entries are images of which class and split, from their paths alone.

Accepted layouts (after at most a few wrapping folders are stripped):
- class folders at the root: `cat/001.jpg`, `dog/002.png`;
- `train/<class>/...` with `val/`, `valid/`, `validation/` or `test/` holding
  the same classes: that split is used as given.
Images nested deeper inside a class folder belong to that class. macOS
resource forks (`__MACOSX/`), dotfiles, `Thumbs.db` and `desktop.ini` are
ignored silently; other files outside class folders are skipped with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from platform_web.datasets.errors import IngestionError
from trainer_api.engine.images import IMAGE_SUFFIXES

IGNORED_FILE_NAMES = frozenset({"thumbs.db", "desktop.ini"})
TRAIN_DIR = "train"
# In order of preference: the first present is the validation split.
VAL_DIRS = ("val", "valid", "validation", "test")


@dataclass(frozen=True)
class Candidate:
    """A zip entry that should be an image of `class_name`."""

    entry: str  # the name in the zip
    path: str  # where it goes, relative to the dataset folder: files/...
    class_name: str
    split: str | None  # "train" / "val" when the zip gives the split, else None


@dataclass
class LayoutPlan:
    candidates: list[Candidate]
    split_source: str  # "given" or "generated"
    warnings: list[dict] = field(default_factory=list)


def parts_of(name: str) -> list[str]:
    """Path components of a zip entry name (both separators, no empty or '.' parts)."""
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def is_ignored(parts: list[str]) -> bool:
    """True for system clutter nobody wants as training data."""
    if any(p == "__MACOSX" or p.startswith(".") for p in parts):
        return True
    return parts[-1].lower() in IGNORED_FILE_NAMES


def is_image_name(name: str) -> bool:
    """True when the file name has an image suffix we decode."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_SUFFIXES


def _strip_wrappers(files: list[list[str]]) -> int:
    """How many leading wrapping folders every file shares (folders, not the class folders themselves)."""
    depth = 0
    while True:
        inside = [p[depth:] for p in files if len(p) > depth + 1]
        folders = {p[0] for p in inside}
        # One folder holds every nested file, and inside it there are folders again (classes).
        if len(folders) == 1 and any(len(p) >= 3 for p in inside):
            depth += 1
            continue
        return depth


def plan_layout(names: list[str]) -> LayoutPlan:
    """Decide the layout from the zip's entry names; raise IngestionError when it has too few classes.

    `names` are the zip's file entries (not directories), unsafe names already refused.
    """
    files: list[tuple[str, list[str]]] = []
    for name in names:
        parts = parts_of(name)
        if parts and not is_ignored(parts):
            files.append((name, parts))
    depth = _strip_wrappers([p for _, p in files])
    warnings: list[dict] = []
    located: list[tuple[str, list[str]]] = []
    for name, parts in files:
        inner = parts[depth:]
        if len(inner) < 2:
            warnings.append({"path": name, "message": "not inside a class folder, skipped"})
        else:
            located.append((name, inner))

    top_folders = {inner[0].lower(): inner[0] for _, inner in located}
    val_dir = next((top_folders[v] for v in VAL_DIRS if v in top_folders), None)
    if TRAIN_DIR in top_folders and val_dir:
        plan = _given_split(located, top_folders[TRAIN_DIR], val_dir, warnings)
    else:
        plan = LayoutPlan([_candidate(name, inner, inner[0], None) for name, inner in located], "generated", warnings)
    plan.candidates, plan.warnings = _drop_non_images(plan.candidates, plan.warnings)
    _check_classes(plan)
    return plan


def _candidate(name: str, inner: list[str], class_name: str, split: str | None) -> Candidate:
    return Candidate(name, "files/" + "/".join(inner), class_name, split)


def _given_split(located, train_dir: str, val_dir: str, warnings: list[dict]) -> LayoutPlan:
    splits = {train_dir: "train", val_dir: "val"}
    ignored_folders: dict[str, int] = {}
    candidates: list[Candidate] = []
    for name, inner in located:
        split = splits.get(inner[0])
        if split is None:
            ignored_folders[inner[0]] = ignored_folders.get(inner[0], 0) + 1
        elif len(inner) < 3:
            warnings.append({"path": name, "message": f"directly in {inner[0]}/, not inside a class folder, skipped"})
        else:
            candidates.append(_candidate(name, inner, inner[1], split))
    for folder, count in sorted(ignored_folders.items()):
        warnings.append(
            {
                "path": f"{folder}/",
                "message": f"folder ignored ({count:,} files): with {train_dir}/ and {val_dir}/ only those two are read",
            }
        )
    train_classes = {c.class_name for c in candidates if c.split == "train" and is_image_name(c.entry)}
    val_classes = {c.class_name for c in candidates if c.split == "val" and is_image_name(c.entry)}
    check_same_classes(train_classes, val_classes, train_dir, val_dir)
    return LayoutPlan(candidates, "given", warnings)


def check_same_classes(train: set[str], val: set[str], train_dir: str = "train", val_dir: str = "val") -> None:
    """Refuse a given split whose class folders differ, naming the classes on each side."""
    if train == val:
        return
    problems = []
    if train - val:
        problems.append(f"only in {train_dir}/: {', '.join(sorted(train - val))}")
    if val - train:
        problems.append(f"only in {val_dir}/: {', '.join(sorted(val - train))}")
    raise IngestionError(
        f"The given split's classes differ between {train_dir}/ and {val_dir}/ ({'; '.join(problems)}). "
        "Both folders need the same class folders, each with at least one readable image."
    )


def _drop_non_images(candidates: list[Candidate], warnings: list[dict]) -> tuple[list[Candidate], list[dict]]:
    images = []
    for c in candidates:
        if is_image_name(c.entry):
            images.append(c)
        else:
            warnings.append(
                {"path": c.entry, "message": "not an image file (JPEG, PNG, BMP, GIF, WebP, TIFF), skipped"}
            )
    return images, warnings


def _check_classes(plan: LayoutPlan) -> None:
    classes = sorted({c.class_name for c in plan.candidates})
    if not classes:
        raise IngestionError(
            "No readable image found: the zip holds no JPEG, PNG, BMP, GIF, WebP or TIFF file inside a class "
            "folder. Put each class's images in a folder named after the class (cat/001.jpg, dog/002.jpg)."
        )
    if len(classes) < 2:
        raise IngestionError(
            f"Found only one class folder (“{classes[0]}”): a dataset needs at least two classes. "
            "Put each class's images in its own folder (cat/001.jpg, dog/002.jpg)."
        )
