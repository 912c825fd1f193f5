"""Pretrained weights: found in the weights folder or torchvision's cache, used only when asked, never downloaded."""

from __future__ import annotations

import json
import os

import pytest
import torch
import torchvision

from trainer_api.engine import ConfigError, TrialConfig, build_model, run_trial, weights
from trainer_api.engine.trial import build_model as trial_build_model


def marked_state_dict(name: str, marker: float) -> dict[str, torch.Tensor]:
    """A random torchvision `name`'s state_dict whose every first-layer weight is `marker` (easy to find again)."""
    model = getattr(torchvision.models, name)(weights=None)
    first = next(p for p in model.parameters() if p.dim() == 4)
    with torch.no_grad():
        first.fill_(marker)
    return model.state_dict()


def fake_torch_home_file(name: str) -> os.PathLike:
    """Where torchvision would have downloaded `name`'s weights: $TORCH_HOME/hub/checkpoints/<arch>-<hash>.pth."""
    file_name = torchvision.models.get_model_weights(name).DEFAULT.url.rsplit("/", 1)[-1]
    folder = weights.hub_checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / file_name


def test_weights_in_torchvisions_cache_are_found_and_used(tmp_path):
    path = fake_torch_home_file("resnet18")
    assert path.name.startswith("resnet18-") and str(path).startswith(os.environ["TORCH_HOME"])
    torch.save(marked_state_dict("resnet18", 0.25), path)
    assert weights.find_weights("resnet18", tmp_path / "empty") == path
    assert weights.available_weights(tmp_path / "empty") == {"resnet18": path}
    model, used = build_model("resnet18", 3, 32, pretrained=True, weights_dir=tmp_path / "empty")
    assert used == path and torch.all(model.conv1.weight == 0.25)
    assert model.fc.out_features == 3  # a new head for this dataset's classes


def test_the_weights_folder_comes_before_torchvisions_cache(tmp_path):
    torch.save(marked_state_dict("resnet18", 0.25), fake_torch_home_file("resnet18"))
    torch.save(marked_state_dict("resnet18", 0.5), tmp_path / "resnet18.pth")
    model, used = build_model("resnet18", 3, 32, pretrained=True, weights_dir=tmp_path)
    assert used == tmp_path / "resnet18.pth" and torch.all(model.conv1.weight == 0.5)


def test_without_pretrained_a_model_starts_from_scratch_even_when_weights_exist(tmp_path):
    torch.save(marked_state_dict("mobilenet_v3_small", 0.125), tmp_path / "mobilenet_v3_small.pth")
    model, used = build_model("mobilenet_v3_small", 5, 32, weights_dir=tmp_path)
    assert used is None and not torch.all(model.features[0][0].weight == 0.125)


def test_pretrained_without_weights_says_how_to_add_them(tmp_path):
    with pytest.raises(ConfigError) as refused:
        build_model("resnet18", 3, 32, pretrained=True, weights_dir=tmp_path)
    message = str(refused.value)
    assert "No pretrained weights for resnet18" in message
    assert "python manage.py import_weights FILE --arch resnet18" in message and "TRAINER_DOWNLOAD_WEIGHTS=1" in message
    with pytest.raises(ConfigError, match="small_resnet has no pretrained weights"):
        TrialConfig(architecture="small_resnet", pretrained=True)
    with pytest.raises(ConfigError, match="freeze_epochs needs pretrained=true"):
        TrialConfig(architecture="resnet18", freeze_epochs=1)


def test_nothing_is_downloaded_unless_allowed(tmp_path, monkeypatch):
    fetched = []

    def fake_download(url, model_dir, **kwargs):
        fetched.append(url)
        target = os.path.join(model_dir, os.path.basename(url))
        os.makedirs(model_dir, exist_ok=True)
        torch.save(marked_state_dict("resnet18", 0.75), target)

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(ConfigError):
        build_model("resnet18", 3, 32, pretrained=True, weights_dir=tmp_path)
    assert fetched == []
    model, used = build_model("resnet18", 3, 32, pretrained=True, weights_dir=tmp_path, download=True)
    assert len(fetched) == 1 and fetched[0].endswith(used.name) and torch.all(model.conv1.weight == 0.75)


def test_a_head_of_another_size_is_replaced_and_a_wrong_architecture_is_named(tmp_path):
    other_head = torchvision.models.resnet18(weights=None, num_classes=7).state_dict()
    torch.save(other_head, tmp_path / "resnet18.pth")
    weights.check_weights(tmp_path / "resnet18.pth", "resnet18")  # all but the head fits
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), tmp_path / "mobile.pth")
    with pytest.raises(ConfigError, match=r"does not fit resnet18: \d+ missing .*\d+ unexpected"):
        weights.check_weights(tmp_path / "mobile.pth", "resnet18")


def test_a_pretrained_trial_starts_from_the_file_freezes_the_backbone_and_records_imagenet_statistics(
    tmp_path, dataset_factory, folders, monkeypatch
):
    imported = marked_state_dict("resnet18", 0.0)
    imported["conv1.weight"] = torch.randn_like(imported["conv1.weight"])
    torch.save(imported, tmp_path / "resnet18.pth")
    at_start = {}

    def spy(*args, **kwargs):
        model, used = trial_build_model(*args, **kwargs)
        at_start["conv1"], at_start["fc"] = model.conv1.weight.detach().clone(), model.fc.weight.detach().clone()
        return model, used

    monkeypatch.setattr("trainer_api.engine.trial.build_model", spy)
    dataset = dataset_factory(classes=2, per_class=8, size=32)
    config = TrialConfig(architecture="resnet18", pretrained=True, freeze_epochs=1, input_size=32, batch_size=8,
                         epochs=1, learning_rate=1e-3, augment=False, diverge_check_epochs=0)  # fmt: skip
    result = run_trial(config, dataset, *folders, device="cpu", num_threads=1, weights_dir=tmp_path)
    assert result.status == "completed", result.message
    assert torch.equal(at_start["conv1"], imported["conv1.weight"])  # training started from the file
    saved = torch.load(result.model_path, weights_only=True)
    assert torch.equal(saved["state_dict"]["conv1.weight"], imported["conv1.weight"])  # frozen in epoch 1
    assert not torch.equal(saved["state_dict"]["fc.weight"], at_start["fc"])  # while the head trained
    assert saved["pretrained"] is True and saved["hyperparameters"]["pretrained"] is True
    assert saved["mean"] == pytest.approx([0.485, 0.456, 0.406]) and saved["std"] == pytest.approx(
        [0.229, 0.224, 0.225]
    )
    written = json.loads((folders[0] / "config.json").read_text())
    assert written["weights_file"] == str(tmp_path / "resnet18.pth") and len(written["weights_sha256"]) == 64


def test_a_trial_without_pretrained_ignores_a_weights_file(tmp_path, dataset_factory, folders):
    torch.save(marked_state_dict("mobilenet_v3_small", 0.125), tmp_path / "mobilenet_v3_small.pth")
    dataset = dataset_factory(classes=2, per_class=4, size=32)
    config = TrialConfig(architecture="mobilenet_v3_small", input_size=32, batch_size=4, epochs=1)
    result = run_trial(config, dataset, *folders, device="cpu", num_threads=1, weights_dir=tmp_path)
    saved = torch.load(result.model_path, weights_only=True)
    assert saved["pretrained"] is False and saved["mean"] != pytest.approx([0.485, 0.456, 0.406])
