"""Every architecture trains at its minimum input size; local weight files are used, never downloads."""

from __future__ import annotations

import pytest
import torch
import torchvision

from trainer_api.engine import ARCHITECTURES, IMAGENET_MEAN, TrialConfig, build_model, load_model, run_trial


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_each_architecture_trains_one_epoch_at_its_minimum_size(name, dataset_factory, folders):
    size = ARCHITECTURES[name].min_input_size
    dataset = dataset_factory(classes=2, per_class=4, size=size, kind="patterns")
    config = TrialConfig(architecture=name, input_size=size, batch_size=4, epochs=1)
    result = run_trial(config, dataset, *folders, device="cpu", num_threads=1)
    assert result.status == "completed", result.message
    assert result.epochs_run == 1 and result.history[0].train_loss > 0
    model, metadata = load_model(result.model_path)
    assert metadata["architecture"] == name and metadata["input_size"] == size
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, size, size)).shape == (1, 2)


def test_local_weights_file_is_loaded_with_a_new_head(tmp_path):
    reference = torchvision.models.mobilenet_v3_small(weights=None)
    with torch.no_grad():
        reference.features[0][0].weight.fill_(0.125)  # a marker to find after loading
    torch.save(reference.state_dict(), tmp_path / "mobilenet_v3_small.pth")
    model, pretrained = build_model("mobilenet_v3_small", 5, 32, weights_dir=tmp_path)
    assert pretrained
    assert torch.all(model.features[0][0].weight == 0.125)
    assert model.classifier[3].out_features == 5
    plain, pretrained = build_model("resnet18", 5, 32, weights_dir=tmp_path)  # no resnet18.pth there
    assert not pretrained and plain.fc.out_features == 5


def test_pretrained_trial_normalises_with_imagenet_statistics(tmp_path, dataset_factory, folders):
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), tmp_path / "mobilenet_v3_small.pth")
    dataset = dataset_factory(classes=2, per_class=4, size=32)
    config = TrialConfig(architecture="mobilenet_v3_small", input_size=32, batch_size=4, epochs=1)
    result = run_trial(config, dataset, *folders, device="cpu", num_threads=1, weights_dir=tmp_path)
    _, metadata = load_model(result.model_path)
    assert metadata["pretrained"] is True
    assert metadata["mean"] == pytest.approx(list(IMAGENET_MEAN))
