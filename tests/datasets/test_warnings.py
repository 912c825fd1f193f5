"""Per-file problems are skipped and listed as warnings; ingestion carries on."""

import pytest

from platform_web.datasets.models import Dataset
from tests.datasets.builders import class_folders, image_bytes
from tests.datasets.conftest import manifest_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_corrupt_truncated_and_non_image_files_become_warnings(ingest, media_root):
    png = image_bytes("PNG", size=(32, 32))
    entries = class_folders(("cat", "dog"), per_class=3) | {
        "cat/corrupt.jpg": b"\xff\xd8\xff\xe0 this is not really a jpeg",
        "cat/truncated.png": png[: len(png) // 2],
        "dog/notes.txt": b"shot on a sunny day",
        "dog/model.pth": b"\x80\x02",
    }
    dataset = ingest(entries)
    assert dataset.status == Dataset.Status.READY, dataset.error
    assert dataset.image_count == 6
    warned = {w["path"]: w["message"] for w in dataset.warnings}
    assert "unreadable image" in warned["cat/corrupt.jpg"]
    assert "unreadable image" in warned["cat/truncated.png"]
    assert not any(str(media_root) in message for message in warned.values())  # no server paths shown
    assert "not an image file" in warned["dog/notes.txt"] and "not an image file" in warned["dog/model.pth"]
    paths = {item["path"] for item in manifest_of(dataset)["items"]}
    assert not {"files/cat/corrupt.jpg", "files/cat/truncated.png", "files/dog/notes.txt"} & paths
    # Skipped files are not kept on disk either.
    assert not (dataset.directory / "files/cat/corrupt.jpg").exists()
    assert not (dataset.directory / "files/dog/notes.txt").exists()


def test_images_over_the_pixel_limit_are_skipped(ingest, settings):
    settings.IMAGE_MAX_PIXELS = 1000  # the 24x16 images have 384 pixels
    entries = class_folders(("cat", "dog"), per_class=3) | {"dog/huge.png": image_bytes(size=(50, 40))}
    dataset = ingest(entries)
    assert dataset.status == Dataset.Status.READY, dataset.error
    assert dataset.warnings == [
        {"path": "dog/huge.png", "message": "image over the pixel limit (1,000 pixels), skipped"}
    ]
    assert dataset.image_count == 6


def test_class_imbalance_is_a_warning(ingest):
    dataset = ingest(class_folders(("cat",), per_class=40) | class_folders(("dog",), per_class=10))
    assert dataset.status == Dataset.Status.READY, dataset.error
    assert len(dataset.warnings) == 1
    message = dataset.warnings[0]["message"]
    cat, dog = dataset.class_counts["cat"]["train"], dataset.class_counts["dog"]["train"]
    assert cat / dog > 3
    assert "Class imbalance" in message and f"“cat” has {cat} training images" in message
    assert f"“dog” only {dog}" in message and "new studies weigh each class" in message


def test_balanced_classes_have_no_imbalance_warning(ingest):
    dataset = ingest(class_folders(("cat",), per_class=10) | class_folders(("dog",), per_class=5))
    assert dataset.status == Dataset.Status.READY and dataset.warnings == []


def test_duplicate_entries_keep_the_first(ingest, tmp_path):
    import zipfile

    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in class_folders(per_class=2).items():
            zf.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("cat/000.png", b"second copy")
    dataset = ingest(path)
    assert dataset.status == Dataset.Status.READY, dataset.error
    assert dataset.warnings == [{"path": "cat/000.png", "message": "duplicate entry in the zip, skipped"}]
    assert (dataset.directory / "files/cat/000.png").read_bytes() != b"second copy"


def test_long_warning_lists_are_cut(ingest, settings, monkeypatch):
    monkeypatch.setattr("worker.ingest.dataset_summary.MAX_WARNINGS", 5)
    entries = class_folders(per_class=2) | {f"cat/note{n}.txt": b"x" for n in range(9)}
    dataset = ingest(entries)
    assert len(dataset.warnings) == 6
    assert dataset.warnings[-1]["message"] == "… and 4 more warnings not listed"
