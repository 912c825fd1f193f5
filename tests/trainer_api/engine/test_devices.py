"""Device choice and mixed-precision plans, tested with fake device capabilities."""

from __future__ import annotations

import os

import pytest
import torch

from trainer_api.engine import ConfigError, choose_amp_dtype, resolve_device
from trainer_api.engine.devices import compute_plan, cpu_has_native_bf16, cpu_threads


def ampere(device: torch.device) -> tuple[int, int]:
    return (8, 0)


def turing(device: torch.device) -> tuple[int, int]:
    return (7, 5)


def test_bf16_on_a_gpu_that_supports_it():
    assert choose_amp_dtype(torch.device("cuda"), capability=ampere) == torch.bfloat16


def test_fp16_with_a_gradient_scaler_on_an_older_gpu():
    plan = compute_plan(torch.device("cuda:0"), capability=turing)
    assert plan.amp_dtype == torch.float16
    assert plan.use_grad_scaler and plan.pin_memory and plan.channels_last


def test_no_scaler_with_bf16():
    plan = compute_plan(torch.device("cuda"), capability=ampere)
    assert plan.amp_dtype == torch.bfloat16 and not plan.use_grad_scaler


def never_asked(device: torch.device) -> tuple[int, int]:
    raise AssertionError("a CPU plan must not ask about the GPU")


def test_cpu_without_native_bf16_trains_in_float32_without_pinned_memory():
    plan = compute_plan(torch.device("cpu"), capability=never_asked, cpu_bf16=lambda: False)
    assert plan.amp_dtype is None and not plan.use_grad_scaler and not plan.pin_memory


def test_cpu_with_native_bf16_trains_in_bf16_without_a_scaler():
    plan = compute_plan(torch.device("cpu"), capability=never_asked, cpu_bf16=lambda: True)
    assert plan.amp_dtype == torch.bfloat16 and not plan.use_grad_scaler and plan.channels_last


def test_a_gpu_plan_does_not_depend_on_the_cpu():
    plan = compute_plan(torch.device("cuda"), capability=turing, cpu_bf16=lambda: True)
    assert plan.amp_dtype == torch.float16 and plan.use_grad_scaler


def test_cpu_bf16_probe_answers_a_bool():
    assert cpu_has_native_bf16() in (True, False)


def test_auto_picks_cuda_only_when_there_is_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto", cuda_available=lambda: True) == torch.device("cuda")
    assert resolve_device("auto", cuda_available=lambda: False) == torch.device("cpu")
    assert resolve_device("cuda:1", cuda_available=lambda: True) == torch.device("cuda:1")


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_asking_for_a_missing_gpu_is_a_config_error(name):
    with pytest.raises(ConfigError, match="no usable CUDA GPU"):
        resolve_device(name, cuda_available=lambda: False)


@pytest.mark.parametrize("name", ["tpu", "gpu0", "mps"])
def test_unknown_devices_are_refused(name):
    with pytest.raises(ConfigError):
        resolve_device(name, cuda_available=lambda: False)


def test_cpu_threads_default_to_every_core_this_process_may_use():
    assert cpu_threads(None) == len(os.sched_getaffinity(0))
    assert cpu_threads(3) == 3
    with pytest.raises(ConfigError):
        cpu_threads(0)
