"""The dataset cache: decoded once, shared safely, never read half-written."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from trainer_api.engine import DatasetError, prepare_dataset
from trainer_api.engine import cache as cache_module
from trainer_api.engine.splits import stratified_split


@pytest.fixture
def count_builds(monkeypatch):
    """Count (and slow down a little, to widen any race) the cache builds."""
    calls = []
    original = cache_module.build_cache

    def counting(*args, **kwargs):
        calls.append(args[1])
        time.sleep(0.2)
        return original(*args, **kwargs)

    monkeypatch.setattr(cache_module, "build_cache", counting)
    return calls


def test_decoded_pixels_labels_and_split_match_the_files(bright_dark, tmp_path):
    data = prepare_dataset(bright_dark, tmp_path / "cache", 8)
    manifest = json.loads((bright_dark / "manifest.json").read_text())
    assert data.images.dtype == torch.uint8 and data.images.shape == (24, 3, 8, 8)
    assert data.classes == ["bright", "dark"]
    for row, item in enumerate(manifest["items"]):
        expected = np.asarray(Image.open(bright_dark / item["path"]).convert("RGB").resize((8, 8), Image.BILINEAR))
        assert np.array_equal(data.images[row].permute(1, 2, 0).numpy(), expected)
        assert data.labels[row] == item["label"]
        assert (row in data.val_index.tolist()) == (item["split"] == "val")


def test_mean_and_std_come_from_the_training_split_only(bright_dark, tmp_path):
    data = prepare_dataset(bright_dark, tmp_path / "cache", 16)
    train = data.images[data.train_index].double() / 255
    assert data.mean == pytest.approx(train.mean(dim=(0, 2, 3)).tolist(), abs=1e-6)
    assert data.std == pytest.approx(train.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-6)


def test_second_request_reuses_the_cache_and_another_size_decodes_again(bright_dark, tmp_path, count_builds):
    first = prepare_dataset(bright_dark, tmp_path / "cache", 16)
    second = prepare_dataset(bright_dark, tmp_path / "cache", 16)
    assert first.built and not second.built
    assert torch.equal(first.images, second.images)
    prepare_dataset(bright_dark, tmp_path / "cache", 12)
    assert count_builds == [16, 12]


def test_concurrent_requests_decode_once(bright_dark, tmp_path, count_builds):
    results, errors = [], []

    def worker():
        try:
            results.append(prepare_dataset(bright_dark, tmp_path / "cache", 16))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 4
    assert count_builds == [16]
    assert sum(r.built for r in results) == 1
    assert all(torch.equal(r.images, results[0].images) for r in results)


def test_half_written_files_are_never_read(bright_dark, tmp_path, count_builds):
    cache_dir = tmp_path / "cache"
    good = prepare_dataset(bright_dark, tmp_path / "reference", 16).images.clone()
    cache_dir.mkdir()
    stem = f"v1-{json.loads((bright_dark / 'manifest.json').read_text())['content_hash']}-16px"
    # A writer died after renaming nothing: only a temporary file, and a data file without its .json.
    (cache_dir / f"{stem}.npy.tmp-1-dead").write_bytes(b"\x93NUMPY garbage")
    (cache_dir / f"{stem}.npy").write_bytes(b"\x93NUMPY half a header")
    data = prepare_dataset(bright_dark, cache_dir, 16)
    assert data.built and torch.equal(data.images, good)
    assert not list(cache_dir.glob("*.tmp-*"))
    # A complete .json whose .npy was cut short is not trusted either.
    npy = cache_dir / f"{stem}.npy"
    npy.write_bytes(npy.read_bytes()[:1000])
    data = prepare_dataset(bright_dark, cache_dir, 16)
    assert data.built and torch.equal(data.images, good)
    assert len(count_builds) == 3  # reference + two rebuilds


def test_manifest_without_splits_gets_the_stratified_split(dataset_factory, tmp_path):
    folder = dataset_factory("nosplit", classes=3, per_class=10, size=8, with_split=False)
    data = prepare_dataset(folder, tmp_path / "cache", 8)
    labels = data.labels.tolist()
    expected = stratified_split(labels, 0.2, seed=0)
    assert sorted(data.val_index.tolist()) == [i for i, s in enumerate(expected) if s == "val"]
    assert len(data.val_index) == 6


def test_missing_dataset_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="manifest.json is missing"):
        prepare_dataset(tmp_path / "nowhere", tmp_path / "cache", 16)


def test_a_broken_image_is_named_in_the_error(bright_dark, tmp_path):
    victim = next((bright_dark / "files" / "train" / "dark").iterdir())
    victim.write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=victim.name):
        prepare_dataset(bright_dark, tmp_path / "cache", 16)
    assert not list((tmp_path / "cache").glob("*.npy")), "a failed build leaves no cache file"


@pytest.mark.parametrize("bad_path", ["../outside.png", "/etc/passwd", "files/../../x.png"])
def test_items_outside_the_dataset_folder_are_refused(bright_dark, tmp_path, bad_path):
    manifest_path = bright_dark / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["items"][0]["path"] = bad_path
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="points outside the dataset folder"):
        prepare_dataset(bright_dark, tmp_path / "cache", 16)
