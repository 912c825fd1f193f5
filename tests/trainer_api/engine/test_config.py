"""TrialConfig validation, the architecture registry and the learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch

from trainer_api.engine import ARCHITECTURES, ConfigError, TrialConfig, architecture_info, build_model
from trainer_api.engine.optim import build_optimizer, lr_factor


def test_defaults_are_valid_and_round_trip():
    config = TrialConfig()
    assert TrialConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture": "vgg99"}, "Unknown architecture 'vgg99'"),
        ({"architecture": "resnet18", "input_size": 16}, "resnet18 needs input size >= 32, got 16"),
        ({"architecture": "lite_cnn", "input_size": 8}, "lite_cnn needs input size >= 16, got 8"),
        ({"optimizer": "rmsprop"}, "Unknown optimizer 'rmsprop'"),
        ({"scheduler": "cyclic"}, "Unknown scheduler 'cyclic'"),
        ({"learning_rate": 0.0}, "learning_rate must be in (0.0, inf]"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
        ({"batch_size": 0}, "batch_size must be between 1 and"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"augment_strength": 1.5}, "augment_strength must be in [0.0, 1.0]"),
        ({"label_smoothing": 1.0}, "label_smoothing must be in [0.0, 1.0)"),
        ({"warmup_epochs": 3, "epochs": 3}, "warmup_epochs (3) must be fewer than epochs (3)"),
        ({"augment": "yes"}, "augment must be true or false"),
    ],
)
def test_bad_settings_are_refused_with_a_message(changes, message):
    with pytest.raises(ConfigError) as caught:
        TrialConfig(**changes)
    assert message in str(caught.value)


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(ConfigError, match="Unknown trial setting\\(s\\): dropout"):
        TrialConfig.from_dict({"architecture": "simple_cnn", "dropout": 0.5})


def test_build_model_refuses_input_below_minimum_before_any_layer_runs():
    with pytest.raises(ConfigError, match="densenet121 needs input size >= 32, got 31"):
        build_model("densenet121", 3, 31)


def test_architecture_info_lists_every_architecture_with_real_parameter_counts():
    rows = {row["name"]: row for row in architecture_info(num_classes=10, input_size=32)}
    assert set(rows) == set(ARCHITECTURES)
    assert rows["resnet18"]["param_count"] == 11_181_642  # torchvision's resnet18 with a 10-way fc
    assert rows["simple_cnn"]["param_count"] == 16 * 27 + 16 + 16 * 16 * 16 * 10 + 10
    assert all(row["min_input_size"] == ARCHITECTURES[name].min_input_size for name, row in rows.items())
    model, _ = build_model("mobilenet_v3_small", 10, 32)
    assert rows["mobilenet_v3_small"]["param_count"] == sum(p.numel() for p in model.parameters())


def _config(**changes) -> TrialConfig:
    return TrialConfig(epochs=10, **changes)


def test_warmup_rises_linearly_then_cosine_decays_to_zero():
    factor = lr_factor(_config(warmup_epochs=2, scheduler="cosine"), steps_per_epoch=5)
    assert [factor(s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factor(10) == pytest.approx(1.0)
    assert factor(10 + 20) == pytest.approx(0.5)  # half way through the 40 decay steps
    assert factor(49) == pytest.approx(0.5 * (1 + math.cos(math.pi * 39 / 40)))


def test_step_schedule_drops_tenfold_at_half_and_three_quarters():
    factor = lr_factor(_config(scheduler="step"), steps_per_epoch=4)
    assert factor(19) == 1.0 and factor(20) == pytest.approx(0.1)
    assert factor(29) == pytest.approx(0.1) and factor(30) == pytest.approx(0.01)


def test_constant_schedule_stays_at_the_base_rate():
    factor = lr_factor(_config(scheduler="constant"), steps_per_epoch=3)
    assert {factor(s) for s in range(30)} == {1.0}


def test_sgd_uses_the_configured_momentum():
    optimizer = build_optimizer(torch.nn.Linear(2, 2), _config(optimizer="sgd", momentum=0.8))
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["momentum"] == 0.8
