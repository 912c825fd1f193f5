"""Where and how a trial computes: device choice, mixed precision, memory layout, CPU threads."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from .errors import ConfigError


@dataclass(frozen=True)
class ComputePlan:
    """How the training loop uses a device.

    `amp_dtype` None means full float32; `use_grad_scaler` only for float16 (bfloat16 has
    float32's range). On a CPU with native bfloat16 instructions (AVX512-BF16 or AMX)
    autocast runs convolutions and matrix products in bfloat16: a training step of the
    small-image networks at 64 px was 2.1x faster on such a CPU (2.6x with channels_last),
    at the same accuracy (bench/portfolio.py). `pin_memory`: batches that do not stay on the
    GPU are staged in pinned host memory and copied with `non_blocking=True` (CUDA only).
    The feeder and the trial follow these flags rather than `device.type`, so the tests run a
    CUDA plan's flags with `device` replaced by the CPU (`dataclasses.replace`).
    `channels_last` is on everywhere:
    on CUDA it feeds the tensor cores; on the CPU, oneDNN's channels-last kernels made a
    training step of simple_cnn, cifar_net, mobilenet_v3_small and efficientnet_b0 1.4-1.9x
    faster and were even for resnet18, lite_cnn and densenet121 (measured with 1 thread).
    """

    device: torch.device
    amp_dtype: torch.dtype | None
    use_grad_scaler: bool
    channels_last: bool
    pin_memory: bool


def resolve_device(name: str = "auto", *, cuda_available: Callable[[], bool] | None = None) -> torch.device:
    """ "auto" → the first CUDA GPU when there is one, else the CPU; "cpu", "cuda", "cuda:N" as given.

    "cuda" is the first GPU this process sees: a trainer pinned with CUDA_VISIBLE_DEVICES=N
    sees only GPU N, as "cuda" (docs/deploy.md).
    """
    cuda_available = cuda_available or torch.cuda.is_available
    if name == "auto":
        return torch.device("cuda" if cuda_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"Unknown device {name!r}; use auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda" and not cuda_available():
        raise ConfigError(f"Device {name!r} was asked for but this machine has no usable CUDA GPU")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"Device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"Device {name!r} was asked for but this process sees {torch.cuda.device_count()} GPU(s) "
            "(CUDA_VISIBLE_DEVICES renumbers them from 0)"
        )
    return device


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX tiles)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # a PyTorch build without these probes
        return False


def choose_amp_dtype(
    device: torch.device,
    *,
    capability: Callable[[torch.device], tuple[int, int]] | None = None,
    cpu_bf16: Callable[[], bool] = cpu_has_native_bf16,
) -> torch.dtype | None:
    """The autocast dtype for `device`, or None for float32.

    On CUDA by the compute capability of `device` itself (not of the current device):
    8.0 and later (Ampere, Ada, Hopper, Blackwell) have bfloat16 tensor cores → bfloat16;
    7.x (Volta V100, Turing T4 / RTX 20xx) have float16 tensor cores only → float16, with a
    GradScaler; before 7.0 (Pascal and older) there are no tensor cores and float16 gains
    little or runs slower (consumer Pascal cards compute it at a fraction of float32's rate)
    → float32. `torch.cuda.is_bf16_supported()` is not the test: by default it answers True on
    7.x too, where bfloat16 is only emulated and the float16 tensor cores would go unused.
    On the CPU bfloat16 only where the CPU has native bfloat16 instructions (`cpu_bf16`):
    elsewhere it is emulated and slower than float32, so None (float32).
    """
    if device.type != "cuda":
        return torch.bfloat16 if cpu_bf16() else None
    major, _minor = (capability or torch.cuda.get_device_capability)(device)
    if major >= 8:
        return torch.bfloat16
    return torch.float16 if major >= 7 else None


def compute_plan(
    device: torch.device,
    *,
    capability: Callable[[torch.device], tuple[int, int]] | None = None,
    cpu_bf16: Callable[[], bool] = cpu_has_native_bf16,
) -> ComputePlan:
    """Everything the loop needs to know about `device` (see ComputePlan)."""
    dtype = choose_amp_dtype(device, capability=capability, cpu_bf16=cpu_bf16)
    on_cuda = device.type == "cuda"
    return ComputePlan(
        device=device,
        amp_dtype=dtype,
        use_grad_scaler=dtype == torch.float16,
        channels_last=True,
        pin_memory=on_cuda,
    )


def cpu_threads(requested: int | None) -> int:
    """Threads for CPU training: the count asked for, else every core this process may use."""
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"num_threads must be at least 1, got {requested}")
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with torch using `count` threads, then put the previous count back."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
