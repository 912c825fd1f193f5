"""Cancellation within one batch, and resuming from the last checkpoint (in-process and after SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from trainer_api.engine import TrialConfig, run_trial
from trainer_api.engine.batches import BatchFeeder

REPO = Path(__file__).resolve().parents[3]
CONFIG = {"input_size": 16, "batch_size": 4, "epochs": 4, "seed": 3, "diverge_check_epochs": 0}


def _comparable(history):
    """Every number of every epoch but the timings, flattened."""
    return [
        v
        for r in history
        for v in (r.epoch, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy, r.learning_rate)
    ]


def test_cancel_stops_within_one_batch(bright_dark, folders, monkeypatch):
    batches_started = []
    real_input = BatchFeeder.model_input

    def counting(self, images, **kwargs):
        if "augment" in kwargs:  # training batches only (validation calls it without)
            batches_started.append(images.shape[0])
        return real_input(self, images, **kwargs)

    monkeypatch.setattr(BatchFeeder, "model_input", counting)
    polls = []

    def should_stop() -> bool:
        polls.append(len(batches_started))
        return len(polls) >= 3  # answer "stop" before the third training batch

    config = TrialConfig(**CONFIG)
    result = run_trial(config, bright_dark, *folders, device="cpu", should_stop=should_stop, num_threads=1)
    assert result.status == "cancelled"
    assert len(polls) == 3, "no poll after the answer"
    assert len(batches_started) == 2, "no batch after the answer"
    assert result.epochs_run == 0 and result.history == []
    assert "Cancelled during epoch 1" in result.message


def test_cancelled_trial_resumes_after_its_last_epoch_and_ends_like_an_uninterrupted_one(
    bright_dark, tmp_path, folders
):
    config = TrialConfig(**CONFIG)
    cache = folders[1]
    straight = run_trial(config, bright_dark, tmp_path / "straight", cache, device="cpu", num_threads=1)

    seen = []
    stopped = run_trial(
        config, bright_dark, tmp_path / "interrupted", cache, device="cpu", num_threads=1,
        on_epoch=lambda r: seen.append(r.epoch), should_stop=lambda: len(seen) >= 2,
    )  # fmt: skip
    assert stopped.status == "cancelled" and stopped.epochs_run == 2 and seen == [1, 2]

    resumed_epochs = []
    resumed = run_trial(
        config, bright_dark, tmp_path / "interrupted", cache, device="cpu", num_threads=1,
        on_epoch=lambda r: resumed_epochs.append(r.epoch),
    )  # fmt: skip
    assert resumed_epochs == [3, 4], "epochs 1 and 2 are not trained again"
    assert resumed.status == "completed" and resumed.epochs_run == 4
    # Model, optimiser, schedule and every RNG came back: the numbers are those of the straight run.
    assert _comparable(resumed.history) == pytest.approx(_comparable(straight.history), rel=1e-5)
    straight_weights = torch.load(straight.model_path, weights_only=True)["state_dict"]
    resumed_weights = torch.load(resumed.model_path, weights_only=True)["state_dict"]
    for name, tensor in straight_weights.items():
        assert torch.allclose(tensor.float(), resumed_weights[name].float(), atol=1e-5), name


KILLED_RUN = textwrap.dedent(
    """
    import sys, time, torch
    from trainer_api.engine import TrialConfig, run_trial
    torch.set_num_threads(1)
    config = TrialConfig(**{config!r})
    # Slow epochs so that the parent can kill us between two checkpoints.
    run_trial(config, sys.argv[1], sys.argv[2], sys.argv[3], device="cpu", num_threads=1,
              on_epoch=lambda report: time.sleep(1.0))
    """
)


@pytest.mark.slow
def test_trial_killed_mid_run_resumes_from_its_checkpoint(bright_dark, tmp_path, folders):
    work_dir, cache = folders
    config = dict(CONFIG, epochs=8)
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN.format(config=config))
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, str(script), str(bright_dark), str(work_dir), str(cache)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not (work_dir / "checkpoint.pt").exists():
            assert child.poll() is None, "the trial process ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    done = torch.load(work_dir / "checkpoint.pt", weights_only=True)["epoch"]
    assert 1 <= done < 8, "killed mid-run"

    resumed_epochs = []
    result = run_trial(
        TrialConfig(**config), bright_dark, work_dir, cache, device="cpu", num_threads=1,
        on_epoch=lambda r: resumed_epochs.append(r.epoch),
    )  # fmt: skip
    assert resumed_epochs == list(range(done + 1, 9)), "resumed after the checkpointed epoch, epoch 1 not redone"
    assert result.status == "completed" and [r.epoch for r in result.history] == list(range(1, 9))
