"""A trial that runs out of device memory during a batch: retried once from the start with half the batch size."""

from __future__ import annotations

import json

import pytest
import torch

from tests.trainer_api.engine.cuda_fakes import cuda_plan_on_cpu
from trainer_api.engine import TrialConfig, artefact, run_trial
from trainer_api.engine.batches import BatchFeeder
from trainer_api.engine.memory_retry import RECORD_FILE, OutOfDeviceMemory, release_device_memory

CONFIG = {"input_size": 16, "batch_size": 8, "epochs": 3, "seed": 0, "diverge_check_epochs": 0}
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 15.7 GiB"


def gpu_of_size(monkeypatch, largest_batch: int) -> list[int]:
    """Training batches over `largest_batch` images raise torch.OutOfMemoryError; returns every batch's size."""
    sizes: list[int] = []
    real_input = BatchFeeder.model_input

    def model_input(self, images, **kwargs):
        if "augment" in kwargs:  # training batches (validation calls it without)
            sizes.append(images.shape[0])
            if images.shape[0] > largest_batch:
                raise torch.OutOfMemoryError(OOM + "\nIf reserved but unallocated memory is large ...")
        return real_input(self, images, **kwargs)

    monkeypatch.setattr(BatchFeeder, "model_input", model_input)
    return sizes


def _run(dataset, folders, reports=None, should_stop=None, device="cpu", **changes):
    config = TrialConfig(**(CONFIG | changes))
    return run_trial(
        config, dataset, *folders, device=device, num_threads=1,
        on_epoch=None if reports is None else reports.append, should_stop=should_stop,
    )  # fmt: skip


def test_out_of_memory_retries_once_with_half_the_batch_and_says_so(bright_dark, folders, monkeypatch):
    sizes = gpu_of_size(monkeypatch, largest_batch=4)
    reports = []
    result = _run(bright_dark, folders, reports)
    assert result.status == "completed", result.message
    assert sizes[0] == 8 and sizes[1:6] == [4, 4, 4, 4, 2]  # the first batch of 8 ran out; then 18 images in 4s
    assert result.batch_size == 4
    retry = {"failed_batch_size": 8, "batch_size": 4, "error": OOM}
    assert result.out_of_memory_retry == retry
    assert "ran out of device memory at batch size 8, so it was retried from the start with batch size 4" in (
        result.message
    )
    assert [r.epoch for r in reports] == [1, 2, 3]
    written = json.loads((folders[0] / "config.json").read_text())
    assert written["batch_size_used"] == 4 and written["out_of_memory_retry"] == retry
    assert written["config"]["batch_size"] == 8  # the configuration asked for is kept as asked
    stored = json.loads((folders[0] / "result.json").read_text())["result"]
    assert stored["out_of_memory_retry"] == retry and stored["batch_size"] == 4


def test_the_retry_starts_over_from_epoch_one(bright_dark, folders, monkeypatch):
    calls = []
    real_input = BatchFeeder.model_input

    def model_input(self, images, **kwargs):  # epoch 2 of the first attempt runs out of memory
        calls.append(images.shape[0])
        if "augment" in kwargs and images.shape[0] == 8 and len(calls) > 5:
            raise torch.OutOfMemoryError(OOM)
        return real_input(self, images, **kwargs)

    monkeypatch.setattr(BatchFeeder, "model_input", model_input)
    reports = []
    result = _run(bright_dark, folders, reports)
    assert result.status == "completed" and result.batch_size == 4
    assert [r.epoch for r in reports] == [1, 1, 2, 3]  # epoch 1 at batch 8, then the retry from the start
    assert result.history == reports[1:]


def test_out_of_memory_again_at_half_the_batch_fails_with_advice(bright_dark, folders, monkeypatch):
    sizes = gpu_of_size(monkeypatch, largest_batch=1)
    with pytest.raises(OutOfDeviceMemory) as raised:
        _run(bright_dark, folders)
    assert sizes == [8, 4], "exactly one retry"
    message = str(raised.value)
    assert "at batch size 4 too" in message and "batch size 8 ran out" in message
    assert "choose a smaller batch size" in message
    assert OOM in message and "reserved but unallocated" not in message  # its first line only


def test_a_batch_too_small_to_halve_is_not_retried(bright_dark, folders, monkeypatch):
    sizes = gpu_of_size(monkeypatch, largest_batch=1)
    with pytest.raises(OutOfDeviceMemory, match="too small to halve"):
        _run(bright_dark, folders, batch_size=3)
    assert sizes == [3]


def test_a_retried_trial_resumes_with_the_smaller_batch(bright_dark, folders, monkeypatch):
    gpu_of_size(monkeypatch, largest_batch=4)
    reports = []
    stop_after_two = _run(bright_dark, folders, reports, should_stop=lambda: len(reports) >= 2)
    assert stop_after_two.status == "cancelled" and stop_after_two.batch_size == 4
    assert (folders[0] / RECORD_FILE).is_file()
    monkeypatch.undo()  # the service restarted; the GPU is as full as before, but the trial knows
    sizes = gpu_of_size(monkeypatch, largest_batch=4)
    resumed = _run(bright_dark, folders, reports)
    assert resumed.status == "completed" and resumed.batch_size == 4
    assert resumed.out_of_memory_retry["failed_batch_size"] == 8
    assert max(sizes) == 4  # never the batch that ran out again
    assert json.loads((folders[0] / "config.json").read_text())["resumed_after_epoch"] == 2
    assert [r.epoch for r in reports] == [1, 2, 3]


def test_running_out_of_memory_while_timing_latency_keeps_the_trained_trial(bright_dark, folders, monkeypatch):
    real = artefact.measure_latency_ms

    def latency(model, input_size, plan, batch):
        if batch == 64:
            raise torch.OutOfMemoryError(OOM)
        return real(model, input_size, plan, batch)

    monkeypatch.setattr(artefact, "measure_latency_ms", latency)
    result = _run(bright_dark, folders, epochs=1)
    assert result.status == "completed" and result.out_of_memory_retry is None
    assert result.latency_ms_batch1 > 0 and result.latency_ms_batch64 is None
    assert not (folders[0] / RECORD_FILE).exists()


def test_on_a_cuda_plan_the_retry_runs_in_float16_with_its_grad_scaler(bright_dark, folders, monkeypatch):
    plans = cuda_plan_on_cpu(monkeypatch, (7, 5))
    gpu_of_size(monkeypatch, largest_batch=4)
    result = _run(bright_dark, folders, device="auto", epochs=1)
    assert result.status == "completed" and result.batch_size == 4
    assert len(plans) == 1 and plans[0].use_grad_scaler
    assert torch.load(folders[0] / "checkpoint.pt", weights_only=True)["scaler"] is not None


def test_the_failed_attempts_cuda_memory_is_given_back_before_the_retry(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    release_device_memory(torch.device("cpu"))
    assert emptied == []
    release_device_memory(torch.device("cuda:0"))
    assert emptied == [1]
