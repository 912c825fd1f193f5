"""A pretend GPU for the engine tests: only torch.cuda's answers are faked, the tensor work runs on the CPU.

`fake_gpu` makes torch.cuda say there are GPUs of a given compute capability and free memory;
`cuda_plan_on_cpu` lets `run_trial` build its ComputePlan for such a GPU (dtype, GradScaler,
pinned memory, channels_last) and then swaps the plan's device for the CPU, where autocast
(float16 and bfloat16) and torch.amp.GradScaler run for real.
"""

from __future__ import annotations

import dataclasses

import torch

from trainer_api.engine import trial as trial_module
from trainer_api.engine.devices import ComputePlan

GIB = 1024**3


def fake_gpu(monkeypatch, capability: tuple[int, int] = (8, 0), *, count: int = 1, free_bytes: int = 40 * GIB) -> list:
    """torch.cuda answers as if `count` GPUs of `capability` were there; returns the devices asked about."""
    asked: list = []

    def get_device_capability(device=None):
        asked.append(device)
        return capability

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_capability", get_device_capability)
    # What torch answers on a Volta or Turing card by default: bfloat16 "supported" through emulation.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free_bytes, 80 * GIB))
    return asked


def cuda_plan_on_cpu(monkeypatch, capability: tuple[int, int]) -> list[ComputePlan]:
    """Make `run_trial` see a GPU of `capability` and run its CUDA plan on the CPU; returns the CUDA plans built.

    Only the trial's device questions are answered as for a GPU: torch.cuda.is_available itself
    stays false, because torch's optimisers ask it before every step and would then look for a
    CUDA stream.
    """
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (40 * GIB, 80 * GIB))
    real_resolve, real_plan = trial_module.resolve_device, trial_module.compute_plan
    plans: list[ComputePlan] = []

    def on_cpu(device: torch.device, **kwargs) -> ComputePlan:
        plan = real_plan(device, capability=lambda asked: capability, **kwargs)
        plans.append(plan)
        return dataclasses.replace(plan, device=torch.device("cpu"))

    monkeypatch.setattr(trial_module, "resolve_device", lambda name: real_resolve(name, cuda_available=lambda: True))
    monkeypatch.setattr(trial_module, "compute_plan", on_cpu)
    return plans
