"""Disk full while saving a model: the save fails, and no half-written file takes the model's name."""

from __future__ import annotations

import errno

import pytest
import torch

from trainer_api.engine import artefact


def test_a_model_save_that_fills_the_disk_leaves_the_previous_file_and_no_partial_one(tmp_path, monkeypatch):
    trial = tmp_path / "trial"
    trial.mkdir()
    tensors = {"weight": torch.ones(4, 4)}
    first = artefact.write_model_files(trial, tensors, {"architecture": "simple_cnn"})
    before = (trial / "model.pth").read_bytes()

    def fills_the_disk(obj, path, *args, **kwargs):
        with open(path, "wb") as out:
            out.write(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artefact.torch, "save", fills_the_disk)
    with pytest.raises(OSError) as raised:
        artefact.write_model_files(trial, {"weight": torch.zeros(4, 4)}, {"architecture": "simple_cnn"})
    assert raised.value.errno == errno.ENOSPC
    assert (trial / "model.pth").read_bytes() == before  # the complete earlier file, not a partial new one
    assert sorted(p.name for p in trial.iterdir()) == ["model.pth", "model.safetensors"]  # no temporary left
    assert first["model_sha256"] == artefact.sha256_file(trial / "model.pth")
