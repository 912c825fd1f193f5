"""The CUDA branch of the engine without a GPU: torch.cuda's answers are faked, the tensors stay on the CPU."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from tests.trainer_api.engine.cuda_fakes import GIB, cuda_plan_on_cpu, fake_gpu
from trainer_api.engine import ConfigError, TrialConfig, run_trial
from trainer_api.engine.batches import BatchFeeder
from trainer_api.engine.cache import prepare_dataset
from trainer_api.engine.devices import compute_plan, resolve_device

CONFIG = {"input_size": 16, "batch_size": 8, "epochs": 2, "seed": 0, "diverge_check_epochs": 0}


@pytest.mark.parametrize(
    ("capability", "dtype", "scaler"),
    [
        ((9, 0), torch.bfloat16, False),  # Hopper
        ((8, 6), torch.bfloat16, False),  # Ampere (RTX 30xx, A10)
        ((8, 0), torch.bfloat16, False),  # A100
        ((7, 5), torch.float16, True),  # Turing T4: bfloat16 only emulated, though is_bf16_supported() says True
        ((7, 0), torch.float16, True),  # Volta V100
        ((6, 1), None, False),  # Pascal GTX 10xx: no tensor cores, float32
        ((5, 2), None, False),  # Maxwell
    ],
)
def test_the_precision_follows_the_gpus_compute_capability(monkeypatch, capability, dtype, scaler):
    fake_gpu(monkeypatch, capability)
    plan = compute_plan(resolve_device("auto"))
    assert plan.device == torch.device("cuda")
    assert plan.amp_dtype == dtype
    assert plan.use_grad_scaler is scaler
    assert plan.channels_last and plan.pin_memory


def test_the_capability_asked_is_the_trials_own_gpu(monkeypatch):
    asked = fake_gpu(monkeypatch, (8, 0), count=2)
    compute_plan(resolve_device("cuda:1"))
    assert asked == [torch.device("cuda:1")]


def test_a_gpu_index_this_process_cannot_see_is_a_config_error(monkeypatch):
    fake_gpu(monkeypatch, (8, 0), count=1)  # e.g. CUDA_VISIBLE_DEVICES=1 leaves one GPU, numbered 0
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match="sees 1 GPU"):
        resolve_device("cuda:1")


def _run(dataset, folders, **changes):
    config = TrialConfig(**(CONFIG | changes))
    return run_trial(config, dataset, *folders, device="auto", num_threads=1)


def test_float16_trains_through_a_grad_scaler_every_step(bright_dark, folders, monkeypatch):
    plans = cuda_plan_on_cpu(monkeypatch, (7, 5))
    calls = {"scale": 0, "step": 0, "update": 0}
    for name in calls:
        real = getattr(torch.amp.GradScaler, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.amp.GradScaler, name, counted)
    result = _run(bright_dark, folders)
    assert plans[0].amp_dtype == torch.float16 and plans[0].use_grad_scaler
    assert result.status == "completed", result.message
    steps = 2 * 3  # 2 epochs of 18 training images in batches of 8, 8 and 2
    assert calls == {"scale": steps, "step": steps, "update": steps}
    work_dir = folders[0]
    assert json.loads((work_dir / "config.json").read_text())["amp_dtype"] == "float16"
    scaler_state = torch.load(work_dir / "checkpoint.pt", weights_only=True)["scaler"]
    assert scaler_state is not None and scaler_state["scale"] > 0


@pytest.mark.parametrize(("capability", "dtype"), [((8, 0), "bfloat16"), ((6, 1), None)])
def test_no_grad_scaler_unless_float16(bright_dark, folders, monkeypatch, capability, dtype):
    cuda_plan_on_cpu(monkeypatch, capability)

    def refused(*args, **kwargs):
        raise AssertionError("a GradScaler was made for a plan that is not float16")

    monkeypatch.setattr(torch.amp, "GradScaler", refused)
    result = _run(bright_dark, folders, epochs=1)
    assert result.status == "completed", result.message
    work_dir = folders[0]
    assert json.loads((work_dir / "config.json").read_text())["amp_dtype"] == dtype
    assert torch.load(work_dir / "checkpoint.pt", weights_only=True)["scaler"] is None


def test_a_cuda_plan_trains_channels_last(bright_dark, folders, monkeypatch):
    cuda_plan_on_cpu(monkeypatch, (8, 0))
    layouts = []
    real_input = BatchFeeder.model_input

    def recorded(self, images, **kwargs):
        x = real_input(self, images, **kwargs)
        layouts.append(x.is_contiguous(memory_format=torch.channels_last))
        return x

    monkeypatch.setattr(BatchFeeder, "model_input", recorded)
    assert _run(bright_dark, folders, epochs=1).status == "completed"
    assert layouts and all(layouts)


class _CopyLog:
    """Records pinned allocations, pin_memory() calls and Tensor.to copies (pinning needs a real GPU driver)."""

    def __init__(self, monkeypatch) -> None:
        self.pinned_buffers, self.pinned_labels, self.copies = 0, 0, []
        real_empty, real_to = torch.empty, torch.Tensor.to
        log = self

        def empty(*args, pin_memory=False, **kwargs):
            log.pinned_buffers += bool(pin_memory)
            return real_empty(*args, **kwargs)

        def pin_memory(self):
            log.pinned_labels += 1
            return self

        def to(self, *args, **kwargs):
            log.copies.append((self.dtype, kwargs.get("non_blocking", False)))
            return real_to(self, *args, **kwargs)

        monkeypatch.setattr(torch, "empty", empty)
        monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
        monkeypatch.setattr(torch.Tensor, "to", to)


def _feeder(dataset, tmp_path, monkeypatch, free_bytes):
    fake_gpu(monkeypatch, (8, 0), free_bytes=free_bytes)
    plan = dataclasses.replace(compute_plan(resolve_device("cuda")), device=torch.device("cpu"))
    data = prepare_dataset(dataset, tmp_path / "cache", 16)
    return BatchFeeder(data, plan, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)), data


def test_a_dataset_too_big_for_the_gpu_is_fed_through_pinned_memory_and_non_blocking_copies(
    bright_dark, tmp_path, monkeypatch
):
    feeder, data = _feeder(bright_dark, tmp_path, monkeypatch, free_bytes=1024)  # a full GPU
    assert not feeder.resident
    log = _CopyLog(monkeypatch)
    batches = list(feeder.batches(data.train_index, 8))
    assert [len(labels) for _images, labels in batches] == [8, 8, 2]
    assert log.pinned_buffers == 3 and log.pinned_labels == 3
    assert log.copies == [(torch.uint8, True), (torch.int64, True)] * 3  # images, labels: every copy non-blocking
    images, labels = batches[0]
    assert torch.equal(images, data.images.index_select(0, data.train_index[:8]))
    assert torch.equal(labels, data.labels.index_select(0, data.train_index[:8]))


def test_a_dataset_that_fits_stays_on_the_gpu_and_is_never_staged(bright_dark, tmp_path, monkeypatch):
    feeder, data = _feeder(bright_dark, tmp_path, monkeypatch, free_bytes=40 * GIB)
    assert feeder.resident
    log = _CopyLog(monkeypatch)
    list(feeder.batches(data.train_index, 8))
    assert log.pinned_buffers == 0 and log.pinned_labels == 0
    assert all(non_blocking for _dtype, non_blocking in log.copies)  # only the batch indices move
