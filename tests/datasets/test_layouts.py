"""Every accepted zip layout (issue 2, item 7) ends as a ready dataset with the right classes and split."""

import re

import pytest

from platform_web.datasets.models import Dataset
from tests.datasets.builders import class_folders, image_bytes
from tests.datasets.conftest import manifest_of
from trainer_api.engine.images import open_rgb

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def assert_ready(dataset: Dataset) -> None:
    assert dataset.status == Dataset.Status.READY, dataset.error
    assert dataset.progress == 1.0


def test_class_folders_at_the_root(ingest):
    dataset = ingest(class_folders(("dog", "cat", "bird"), per_class=5))
    assert_ready(dataset)
    manifest = manifest_of(dataset)
    assert manifest["format"] == 1
    assert manifest["classes"] == ["bird", "cat", "dog"] == dataset.classes
    assert manifest["split_source"] == "generated" == dataset.split_source
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["content_hash"]) and manifest["content_hash"] == dataset.content_hash
    assert len(manifest["items"]) == 15 == dataset.image_count
    for item in manifest["items"]:
        assert set(item) == {"path", "label", "split", "width", "height"}
        assert item["path"].startswith("files/")
        assert manifest["classes"][item["label"]] == item["path"].split("/")[1]
        assert (item["width"], item["height"]) == (24, 16)
        assert open_rgb(dataset.directory / item["path"]).mode == "RGB"
    # Generated split: 20% of each class (1 of 5) for validation.
    assert dataset.class_counts == {name: {"train": 4, "val": 1} for name in ("bird", "cat", "dog")}
    assert (dataset.train_count, dataset.val_count) == (12, 3)
    assert not dataset.upload_path.exists() and not dataset.staging_directory.exists()


def test_class_folders_inside_one_wrapping_folder(ingest):
    dataset = ingest(class_folders(("cat", "dog"), per_class=3, prefix="my-photos/"))
    assert_ready(dataset)
    assert dataset.classes == ["cat", "dog"]
    assert {i["path"] for i in manifest_of(dataset)["items"]} >= {"files/cat/000.png", "files/dog/002.png"}


@pytest.mark.parametrize("val_folder", ["val", "valid", "test"])
def test_train_and_validation_folders_are_used_as_given(ingest, val_folder):
    entries = class_folders(("cat", "dog"), per_class=5, prefix="train/")
    entries |= class_folders(("cat", "dog"), per_class=2, prefix=f"{val_folder}/")
    dataset = ingest(entries)
    assert_ready(dataset)
    assert dataset.split_source == "given"
    assert dataset.class_counts == {"cat": {"train": 5, "val": 2}, "dog": {"train": 5, "val": 2}}
    items = manifest_of(dataset)["items"]
    assert {i["split"] for i in items if i["path"].startswith("files/train/")} == {"train"}
    assert {i["split"] for i in items if i["path"].startswith(f"files/{val_folder}/")} == {"val"}


def test_given_split_inside_a_wrapping_folder(ingest):
    entries = class_folders(("a", "b"), per_class=3, prefix="data/train/")
    entries |= class_folders(("a", "b"), per_class=2, prefix="data/val/")
    dataset = ingest(entries)
    assert_ready(dataset)
    assert dataset.split_source == "given" and (dataset.train_count, dataset.val_count) == (6, 4)


def test_images_nested_deeper_belong_to_their_class_folder(ingest):
    entries = class_folders(("cat", "dog"), per_class=2)
    entries["cat/indoor/sofa/x.png"] = image_bytes()
    entries["dog/park/y.png"] = image_bytes()
    dataset = ingest(entries)
    assert_ready(dataset)
    assert dataset.classes == ["cat", "dog"]
    labels = {i["path"]: i["label"] for i in manifest_of(dataset)["items"]}
    assert labels["files/cat/indoor/sofa/x.png"] == 0 and labels["files/dog/park/y.png"] == 1


def test_system_clutter_is_ignored_silently(ingest):
    entries = class_folders(("cat", "dog"), per_class=3)
    entries |= {
        "__MACOSX/cat/._000.png": b"\x00\x05\x16\x07 resource fork",
        "cat/.DS_Store": b"junk",
        ".hidden/cat/1.png": b"not looked at",
        "dog/Thumbs.db": b"junk",
        "dog/desktop.ini": b"[.ShellClassInfo]",
    }
    dataset = ingest(entries)
    assert_ready(dataset)
    assert dataset.image_count == 6 and dataset.warnings == []
    assert not (dataset.directory / "files" / "__MACOSX").exists()


def test_files_outside_class_folders_are_skipped_with_a_warning(ingest):
    entries = class_folders(("cat", "dog"), per_class=3) | {"README.txt": b"about", "stray.png": image_bytes()}
    dataset = ingest(entries)
    assert_ready(dataset)
    assert dataset.image_count == 6
    warned = {w["path"]: w["message"] for w in dataset.warnings}
    assert "not inside a class folder" in warned["README.txt"] and "not inside a class folder" in warned["stray.png"]


def test_thumbnails_size_statistics_and_hash(ingest):
    entries = class_folders(("cat", "dog"), per_class=8)
    entries["dog/big.png"] = image_bytes(size=(40, 30))
    dataset = ingest(entries)
    assert_ready(dataset)
    assert {name: len(files) for name, files in dataset.thumbnails.items()} == {"cat": 6, "dog": 6}
    for files in dataset.thumbnails.values():
        for name in files:
            assert (dataset.directory / "thumbs" / name).stat().st_size < 5000
    stats = dataset.size_stats
    assert stats["width"] == {"min": 24, "median": 24, "max": 40}
    assert stats["height"] == {"min": 16, "median": 16, "max": 30}
    assert stats["distinct_sizes"] == 2
    assert stats["most_common"] == {"width": 24, "height": 16, "count": 16}
    # The same content gives the same hash; a changed image changes it.
    again = ingest(entries)
    entries["dog/big.png"] = image_bytes(size=(40, 30), colour=(1, 2, 3))
    changed = ingest(entries)
    assert again.content_hash == dataset.content_hash != changed.content_hash
