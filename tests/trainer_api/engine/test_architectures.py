"""Every architecture trains at its minimum input size (pretrained weights: test_pretrained.py)."""

from __future__ import annotations

import pytest
import torch

from trainer_api.engine import ARCHITECTURES, TrialConfig, load_model, run_trial


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
