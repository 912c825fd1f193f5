"""`manage.py import_weights`: a checked, atomic copy into TRAINER_WEIGHTS_DIR that a pretrained trial starts from."""

from __future__ import annotations

import pytest
import torch
import torchvision
from django.core.management import CommandError, call_command

from tests.trainer_api.dataset_builder import make_dataset_dir
from trainer_api.engine import TrialConfig, run_trial
from trainer_api.engine.trial import build_model as engine_build_model


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine's cores are shared
    yield
    torch.set_num_threads(previous)


def test_imported_weights_are_where_a_pretrained_trial_starts(tmp_path, settings, monkeypatch, capsys):
    source = tmp_path / "downloads" / "my-resnet.pth"
    source.parent.mkdir()
    weights = torchvision.models.resnet18(weights=None).state_dict()
    weights["conv1.weight"] += 1.0  # unlike any random start
    torch.save(weights, source)
    call_command("import_weights", str(source), "--arch", "resnet18")
    target = settings.TRAINER_WEIGHTS_DIR / "resnet18.pth"
    assert target.read_bytes() == source.read_bytes()
    assert f"Imported {source} as {target}" in capsys.readouterr().out
    assert [p.name for p in settings.TRAINER_WEIGHTS_DIR.iterdir()] == ["resnet18.pth"]  # no temporary left

    at_start = {}

    def spy(*args, **kwargs):  # the model exactly as training receives it
        model, used = engine_build_model(*args, **kwargs)
        at_start["conv1"], at_start["file"] = model.conv1.weight.detach().clone(), used
        return model, used

    monkeypatch.setattr("trainer_api.engine.trial.build_model", spy)
    dataset = make_dataset_dir(tmp_path / "dataset", classes=2, per_class=12, size=32)
    config = TrialConfig(architecture="resnet18", pretrained=True, freeze_epochs=1, input_size=32, batch_size=8,
                         epochs=1, augment=False, diverge_check_epochs=0)  # fmt: skip
    result = run_trial(config, dataset, tmp_path / "work", tmp_path / "cache", device="cpu",
                       weights_dir=settings.TRAINER_WEIGHTS_DIR)  # fmt: skip
    assert result.status == "completed", result.message
    assert at_start["file"] == target
    assert torch.equal(at_start["conv1"], weights["conv1.weight"])
    trained = torch.load(result.model_path, weights_only=True)
    assert torch.equal(trained["state_dict"]["conv1.weight"], weights["conv1.weight"])  # frozen for epoch 1
    assert trained["pretrained"] is True and trained["mean"] == pytest.approx([0.485, 0.456, 0.406])


def test_a_pickle_that_needs_weights_only_false_is_refused(tmp_path, settings):
    source = tmp_path / "whole-model.pth"
    torch.save(torchvision.models.resnet18(weights=None), source)  # the module object, not its state_dict
    with pytest.raises(CommandError) as refused:
        call_command("import_weights", str(source), "--arch", "resnet18")
    message = str(refused.value)
    assert "does not load with torch.load(weights_only=True)" in message
    assert "torch.save(model.state_dict(), 'weights.pth')" in message and "Nothing was imported" in message
    assert not (settings.TRAINER_WEIGHTS_DIR / "resnet18.pth").exists()


def test_a_state_dict_of_another_architecture_is_refused(tmp_path, settings):
    source = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), source)
    with pytest.raises(CommandError, match=r"does not fit resnet18: \d+ missing .* Pass the architecture it was saved"):
        call_command("import_weights", str(source), "--arch", "resnet18")
    assert not settings.TRAINER_WEIGHTS_DIR.exists() or not any(settings.TRAINER_WEIGHTS_DIR.iterdir())


def test_safetensors_and_a_new_head_are_accepted(tmp_path, settings):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    source = tmp_path / "mobilenet.safetensors"
    state = torchvision.models.mobilenet_v3_small(weights=None, num_classes=4).state_dict()
    safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(source))
    call_command("import_weights", str(source), "--arch", "mobilenet_v3_small")
    assert (settings.TRAINER_WEIGHTS_DIR / "mobilenet_v3_small.safetensors").is_file()


def test_unknown_files_and_networks_without_weights_are_named(tmp_path):
    with pytest.raises(CommandError, match="No file at"):
        call_command("import_weights", str(tmp_path / "nothing.pth"), "--arch", "resnet18")
    with pytest.raises(CommandError, match="invalid choice: 'small_resnet'"):
        call_command("import_weights", str(tmp_path / "nothing.pth"), "--arch", "small_resnet")
