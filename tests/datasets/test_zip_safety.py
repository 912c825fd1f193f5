"""Unit checks of the zip safety rules and of the layout planner (no database)."""

import zipfile

import pytest

from platform_web.datasets.errors import IngestionError
from platform_web.datasets.zip_safety import ByteBudget, ZipLimits, extract_entry, unsafe_name_reason
from tests.datasets.builders import write_zip
from worker.ingest.layouts import plan_layout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cat/001.png", None),
        ("cat/..hidden..png", None),
        ("./cat/001.png", None),
        ("../x.png", "climbs out of the folder with '..'"),
        ("a/b/../../../x.png", "climbs out of the folder with '..'"),
        ("a\\..\\..\\x.png", "climbs out of the folder with '..'"),
        ("/abs.png", "is an absolute path"),
        ("\\abs.png", "is an absolute path"),
        ("C:/x.png", "starts with a drive letter"),
        ("z:\\x.png", "starts with a drive letter"),
    ],
)
def test_unsafe_names(name, expected):
    assert unsafe_name_reason(name) == expected


def test_real_bytes_are_counted_against_the_total_limit(tmp_path):
    path = write_zip(tmp_path / "z.zip", {"a/1.png": b"x" * 5000, "a/2.png": b"y" * 5000})
    budget = ByteBudget(ZipLimits(max_total_bytes=8000, max_entries=10, max_ratio=1000))
    with zipfile.ZipFile(path) as zf:
        extract_entry(zf, zf.getinfo("a/1.png"), tmp_path / "1.png", budget)
        with pytest.raises(IngestionError, match="reached while extracting “a/2.png”"):
            extract_entry(zf, zf.getinfo("a/2.png"), tmp_path / "2.png", budget)
    assert budget.used > 8000


def test_layout_with_train_val_and_test_uses_val_and_ignores_test():
    names = [f"{split}/{c}/{n}.png" for split in ("train", "val", "test") for c in ("a", "b") for n in range(2)]
    plan = plan_layout(names)
    assert plan.split_source == "given"
    assert {c.split for c in plan.candidates} == {"train", "val"}
    assert plan.warnings == [
        {"path": "test/", "message": "folder ignored (4 files): with train/ and val/ only those two are read"}
    ]


def test_a_lone_train_folder_is_a_wrapper():
    plan = plan_layout(["train/a/1.png", "train/b/1.png"])
    assert plan.split_source == "generated" and {c.class_name for c in plan.candidates} == {"a", "b"}


def test_files_directly_in_train_are_skipped():
    plan = plan_layout(["train/a/1.png", "train/b/1.png", "val/a/1.png", "val/b/1.png", "train/loose.png"])
    assert {
        "path": "train/loose.png",
        "message": "directly in train/, not inside a class folder, skipped",
    } in plan.warnings
