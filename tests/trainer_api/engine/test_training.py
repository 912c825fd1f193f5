"""run_trial's outcomes: learning, clamping, divergence, early stopping, files written."""

from __future__ import annotations

import json

import pytest
import torch

from trainer_api.engine import ConfigError, TrialConfig, loop, run_trial


def _run(dataset, folders, **changes):
    work_dir, cache_dir = folders
    values = {"input_size": 16, "batch_size": 8, "epochs": 3, "seed": 0} | changes
    reports = []
    result = run_trial(
        TrialConfig(**values), dataset, work_dir, cache_dir, device="cpu", on_epoch=reports.append, num_threads=1
    )
    return result, reports


def test_easy_dataset_reaches_full_validation_accuracy(bright_dark, folders):
    result, reports = _run(bright_dark, folders, epochs=6, learning_rate=3e-3)
    assert result.status == "completed", result.message
    assert result.best_val_accuracy == 1.0
    assert [r.epoch for r in reports] == [1, 2, 3, 4, 5, 6]
    assert result.history == reports
    best = reports[result.best_epoch - 1]
    assert best.val_accuracy == 1.0 and result.best_val_loss == best.val_loss
    assert all(r.seconds > 0 and r.images_per_second > 0 and r.epochs == 6 for r in reports)
    assert reports[-1].learning_rate < reports[0].learning_rate  # cosine schedule
    assert result.latency_ms_batch1 > 0 and result.latency_ms_batch64 > 0
    assert result.param_count == 16 * 27 + 16 + 16 * 8 * 8 * 2 + 2
    assert result.train_seconds >= sum(r.seconds for r in reports)


def test_trial_folder_holds_config_checkpoint_and_model_files(bright_dark, folders):
    result, _ = _run(bright_dark, folders, epochs=2)
    work_dir = folders[0]
    config = json.loads((work_dir / "config.json").read_text())
    assert config["config"]["epochs"] == 2 and config["device"] == "cpu" and config["num_threads"] == 1
    assert config["train_images"] == 18 and config["val_images"] == 6
    checkpoint = torch.load(work_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 2
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "best", "history"} <= set(checkpoint)
    assert [h["epoch"] for h in checkpoint["history"]] == [1, 2]
    assert result.model_path == str(work_dir / "model.pth")
    assert result.model_size_bytes == (work_dir / "model.pth").stat().st_size


def test_thread_count_is_restored_after_the_trial(bright_dark, folders):
    torch.set_num_threads(1)
    run_trial(TrialConfig(input_size=16, epochs=1), bright_dark, *folders, device="cpu", num_threads=2)
    assert torch.get_num_threads() == 1


def test_batch_larger_than_the_training_split_is_clamped_and_said(bright_dark, folders):
    result, _ = _run(bright_dark, folders, batch_size=500, epochs=1)
    assert result.status == "completed"
    assert result.batch_size == 18
    assert "batch size 500 was clamped to 18" in result.message


def test_huge_learning_rate_diverges_after_the_first_epoch(bright_dark, folders):
    result, reports = _run(bright_dark, folders, learning_rate=1e3, optimizer="sgd", epochs=5)
    assert result.status == "diverged"
    assert result.epochs_run == 1 and len(reports) == 1
    assert "lower learning rate" in result.message


def test_nan_loss_stops_at_once(bright_dark, folders, monkeypatch):
    real = loop.train_one_epoch
    calls = []

    def poisoned(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # second epoch: every weight becomes NaN
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.fill_(float("nan"))
        return real(model, *args, **kwargs)

    monkeypatch.setattr("trainer_api.engine.trial.train_one_epoch", poisoned)
    result, reports = _run(bright_dark, folders, epochs=5)
    assert result.status == "diverged"
    assert "NaN or infinite in epoch 2 (at batch 1)" in result.message
    assert len(reports) == 1 and result.epochs_run == 1
    assert result.best_epoch == 1 and result.model_path  # the good epoch is still saved


def test_accuracy_stuck_at_chance_counts_as_diverged(dataset_factory, folders):
    blank = dataset_factory("blank", classes=2, per_class=8, size=16, kind="blank")
    result, reports = _run(blank, folders, epochs=6, augment=False, diverge_check_epochs=2)
    assert result.status == "diverged"
    assert len(reports) == 2
    assert "chance level" in result.message


def test_chance_check_can_be_turned_off(dataset_factory, folders):
    blank = dataset_factory("blank", classes=2, per_class=8, size=16, kind="blank")
    result, reports = _run(blank, folders, epochs=3, augment=False, diverge_check_epochs=0)
    assert result.status == "completed" and len(reports) == 3


def test_early_stopping_when_validation_loss_stops_falling(dataset_factory, folders):
    # Nothing to learn: validation loss only rises once the model memorises the training images.
    blank = dataset_factory("blank", classes=2, per_class=8, size=16, kind="blank")
    result, reports = _run(
        blank, folders, epochs=30, augment=False, diverge_check_epochs=0, early_stopping_patience=2, learning_rate=0.05
    )
    assert result.status == "early_stopped", result.message
    losses = [r.val_loss for r in reports]
    best = losses.index(min(losses))
    assert len(reports) == best + 1 + 2  # exactly `patience` epochs without a lower loss
    assert "did not improve for 2 epoch(s)" in result.message


def test_a_finished_trial_is_not_trained_again(bright_dark, folders):
    first, _ = _run(bright_dark, folders, epochs=2)
    again, reports = _run(bright_dark, folders, epochs=2)
    assert reports == [] and again == first


def test_reusing_a_work_dir_for_another_config_is_refused(bright_dark, folders):
    _run(bright_dark, folders, epochs=2)
    with pytest.raises(ConfigError, match="different configuration"):
        _run(bright_dark, folders, epochs=3)


def test_an_ended_trial_whose_result_file_was_lost_is_not_trained_on(dataset_factory, folders):
    # Early stopping ended the trial; the process died before result.json was written.
    blank = dataset_factory("blank", classes=2, per_class=8, size=16, kind="blank")
    settings = {"epochs": 30, "augment": False, "diverge_check_epochs": 0, "early_stopping_patience": 1}
    first, _ = _run(blank, folders, **settings)
    assert first.status == "early_stopped"
    (folders[0] / "result.json").unlink()
    again, reports = _run(blank, folders, **settings)
    assert reports == [], "no epoch after the one that stopped the trial"
    assert again.status == "early_stopped" and again.message == first.message
    assert again.epochs_run == first.epochs_run and again.model_sha256 == first.model_sha256
