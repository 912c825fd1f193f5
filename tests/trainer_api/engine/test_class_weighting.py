"""Class weighting: balanced weights from the training split, in the loss every trial trains with."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from trainer_api.engine import ConfigError, TrialConfig, run_trial
from trainer_api.engine.loop import training_loss


def test_balanced_weights_make_a_rare_class_count_as_much_as_a_common_one():
    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    criterion = training_loss("balanced", labels, 3, 0.0)
    expected = torch.tensor([100 / (3 * 90), 100 / (3 * 9), 100 / (3 * 1)])
    assert torch.allclose(criterion.weight, expected)
    # Summed over the training split, each class weighs the same: n / classes.
    per_class = torch.bincount(labels, minlength=3).float() * criterion.weight
    assert torch.allclose(per_class, torch.full((3,), 100 / 3))
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    targets = torch.tensor([0, 0, 1, 2, 0, 1])
    manual = nn.functional.cross_entropy(logits, targets, weight=expected)
    assert torch.isclose(criterion(logits, targets), manual)


def test_no_weighting_is_plain_cross_entropy_and_an_absent_class_gets_the_largest_weight():
    assert training_loss("none", torch.tensor([0, 0, 1]), 2, 0.1).weight is None
    weights = training_loss("balanced", torch.tensor([0, 0, 0, 1]), 3, 0.0).weight
    assert weights[2] == weights.max() == weights[1]


def test_an_unknown_weighting_is_refused():
    with pytest.raises(ConfigError, match="class_weighting"):
        TrialConfig(class_weighting="sqrt")


def test_a_trial_trains_with_balanced_weights_and_records_them(dataset_factory, folders):
    dataset = dataset_factory(classes=2, per_class=12, size=16)
    manifest_path = dataset / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    # Drop most training images of class_01: 9 against 2.
    rare_train = [i for i in manifest["items"] if i["label"] == 1 and i["split"] == "train"]
    manifest["items"] = [i for i in manifest["items"] if i not in rare_train[2:]]
    manifest_path.write_text(json.dumps(manifest))
    work_dir, cache_dir = folders
    config = TrialConfig(input_size=16, batch_size=8, epochs=2, class_weighting="balanced")
    result = run_trial(config, dataset, work_dir, cache_dir, device="cpu", num_threads=1)
    assert result.status == "completed", result.message
    recorded = json.loads((work_dir / "config.json").read_text())
    assert recorded["config"]["class_weighting"] == "balanced"
    assert recorded["class_weights"] == pytest.approx([11 / (2 * 9), 11 / (2 * 2)], abs=1e-5)
