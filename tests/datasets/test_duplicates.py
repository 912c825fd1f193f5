"""Duplicates and leakage found at ingestion: named in the result, kept on one side of a generated
split, shown on the dataset page with thumbnails, and a given split's leakage as a warning with its figure."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from django.urls import reverse

from platform_web.datasets.models import Dataset
from tests.datasets.builders import cropped, distinct_image, encoded
from tests.datasets.conftest import manifest_of

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def originals(prefix: str, count: int, rng: random.Random) -> dict[str, object]:
    return {f"{prefix}/{n:03d}.png": distinct_image(rng, 48) for n in range(count)}


def with_copies() -> dict[str, bytes]:
    """Two classes of ten distinct images, plus copies: exact, resized, re-encoded, cropped, and one under two labels."""
    rng = random.Random(13)
    images = originals("cat", 10, rng) | originals("dog", 10, rng)
    entries = {name: encoded(image) for name, image in images.items()}
    entries["cat/copy_exact.png"] = entries["cat/000.png"]
    entries["cat/copy_small.png"] = encoded(images["cat/001.png"].resize((36, 36)))
    entries["cat/copy_q60.jpg"] = encoded(images["cat/002.png"], "JPEG", quality=60)
    entries["cat/copy_cropped.png"] = encoded(cropped(images["cat/003.png"], 0.025))
    entries["dog/also_a_cat.png"] = entries["cat/004.png"]
    return entries


def leaky_split() -> dict[str, bytes]:
    """A given split: 8 + 8 training images, 10 validation images of which 3 are copies of training ones."""
    rng = random.Random(14)
    images = originals("train/cat", 8, rng) | originals("train/dog", 8, rng)
    images |= originals("val/cat", 4, rng) | originals("val/dog", 3, rng)
    entries = {name: encoded(image) for name, image in images.items()}
    entries["val/cat/seen_exact.png"] = entries["train/cat/000.png"]
    entries["val/cat/seen_q50.jpg"] = encoded(images["train/cat/001.png"], "JPEG", quality=50)
    entries["val/dog/seen_cropped.png"] = encoded(cropped(images["train/dog/000.png"], 0.025))
    return entries


def listed_paths(dataset: Dataset) -> list[set[str]]:
    return [{m["path"] for m in group["members"]} for group in dataset.duplicates["listed"]]


def test_copies_within_and_across_classes_are_named_and_a_generated_split_keeps_each_group_on_one_side(ingest):
    dataset = ingest(with_copies())
    assert dataset.status == Dataset.Status.READY, dataset.error
    found = dataset.duplicates
    groups = listed_paths(dataset)
    for pair in [
        {"cat/000.png", "cat/copy_exact.png"},
        {"cat/001.png", "cat/copy_small.png"},
        {"cat/002.png", "cat/copy_q60.jpg"},
        {"cat/003.png", "cat/copy_cropped.png"},
        {"cat/004.png", "dog/also_a_cat.png"},
    ]:
        assert pair in groups, pair
    assert len(groups) == 5 and found["all"] == {"groups": 5, "images": 10}
    assert found["exact"]["groups"] == 2 and found["near"]["groups"] == 3
    assert found["cross_class"] == {"groups": 1, "images": 2} and found["within_class"]["groups"] == 4
    [across] = [g for g in found["listed"] if g["cross_class"]]
    assert across["classes"] == ["cat", "dog"]
    # The generated split: every group wholly in training or wholly in validation, so nothing leaks.
    split_of = {item["path"].removeprefix("files/"): item["split"] for item in manifest_of(dataset)["items"]}
    assert all(len({split_of[path] for path in group}) == 1 for group in groups)
    assert found["cross_split"]["groups"] == 0 and found["leaked_val"] == 0
    assert {split_of[path] for group in groups for path in group} >= {"train"}
    assert dataset.val_count >= 2


def test_the_dataset_page_lists_the_copies_side_by_side_with_thumbnails(ingest, alice_client):
    dataset = ingest(with_copies())
    html = alice_client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert 'id="duplicates"' in html and 'id="leakage-warning"' not in html
    for path in ("cat/copy_exact.png", "cat/copy_small.png", "cat/copy_q60.jpg", "cat/copy_cropped.png",
                 "dog/also_a_cat.png", "cat/004.png"):  # fmt: skip
        assert f"<code>{path}</code>" in html, path
    assert "cat / dog" in html  # the group under two labels says which
    urls = [m["thumb"] for g in dataset.duplicates["listed"] for m in g["members"]]
    assert len(urls) == 10 and all(urls)
    for name in urls:
        url = reverse("datasets:thumbnail", args=[dataset.id, name])
        assert f'src="{url}"' in html
        response = alice_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_a_given_split_with_leakage_warns_how_much_validation_accuracy_may_be_inflated(ingest, alice_client):
    dataset = ingest(leaky_split())
    assert dataset.status == Dataset.Status.READY and dataset.split_source == "given", dataset.error
    found = dataset.duplicates
    assert (found["leaked_val"], found["val_count"], found["leak_percent"]) == (3, 10, 30.0)
    assert found["cross_split"] == {"groups": 3, "images": 6}
    groups = listed_paths(dataset)
    assert {"train/cat/000.png", "val/cat/seen_exact.png"} in groups
    assert {"train/cat/001.png", "val/cat/seen_q50.jpg"} in groups
    assert {"train/dog/000.png", "val/dog/seen_cropped.png"} in groups
    html = alice_client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert 'id="leakage-warning"' in html
    assert (
        "3 of 10 validation images (30.0%) also appear in training: validation accuracy may read up to 30.0 points high"
    ) in html
    assert html.index('id="leakage-warning"') < html.index('id="duplicates"')  # the warning comes first


def test_a_given_split_without_copies_has_no_warning(ingest, alice_client):
    rng = random.Random(15)
    images = originals("train/cat", 5, rng) | originals("train/dog", 5, rng)
    images |= originals("val/cat", 2, rng) | originals("val/dog", 2, rng)
    dataset = ingest({name: encoded(image) for name, image in images.items()})
    assert dataset.duplicates["all"]["groups"] == 0 and dataset.duplicates["leaked_val"] == 0
    html = alice_client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert 'id="leakage-warning"' not in html and 'id="no-duplicates"' in html and "No two of the 14 images" in html


def test_a_dataset_ingested_before_the_check_still_shows(user, alice_client):
    dataset = Dataset.objects.create(owner=user, name="old", status=Dataset.Status.READY, classes=["a", "b"],
                                     size_stats={}, duplicates={})  # fmt: skip
    response = alice_client.get(reverse("datasets:detail", args=[dataset.id]))
    assert response.status_code == 200 and 'id="duplicates"' not in response.content.decode()


def test_deleting_the_dataset_removes_the_duplicate_thumbnails(ingest, alice_client,
                                                                django_capture_on_commit_callbacks):  # fmt: skip
    dataset = ingest(with_copies())
    thumbs = sorted(p.name for p in (dataset.directory / "thumbs").glob("d*.jpg"))
    assert len(thumbs) == 10
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("datasets:delete", args=[dataset.id]))
    assert response.status_code == 302 and not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not dataset.directory.exists()


def test_copies_of_one_image_across_many_files_land_on_one_side(ingest):
    # Six copies (exact and re-encoded) of one cat among 20 distinct cats: none in validation while one is in training.
    rng = random.Random(16)
    images = originals("cat", 20, rng) | originals("dog", 20, rng)
    entries = {name: encoded(image) for name, image in images.items()}
    for quality in (50, 70, 90):
        entries[f"cat/000_q{quality}.jpg"] = encoded(images["cat/000.png"], "JPEG", quality=quality)
    entries["cat/000_again.png"] = entries["cat/000.png"]
    entries["cat/000_small.png"] = encoded(images["cat/000.png"].resize((40, 40)))
    dataset = ingest(entries)
    sides = defaultdict(set)
    for item in manifest_of(dataset)["items"]:
        if item["path"].startswith("files/cat/000"):
            sides["copies"].add(item["split"])
    assert len(sides["copies"]) == 1
    assert dataset.duplicates["all"] == {"groups": 1, "images": 6} and dataset.duplicates["leaked_val"] == 0
