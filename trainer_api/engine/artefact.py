"""The trained model as files: `model.pth` (state_dict + metadata), `model.safetensors`, and loading them back."""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
import torchvision
from torch import nn

from .architectures import build_model
from .checkpoint import atomic_write, sha256_file
from .devices import ComputePlan
from .model_header import METADATA_KEY

MODEL_FORMAT_VERSION = 1


def model_metadata(
    *,
    architecture: str,
    architecture_options: dict[str, int],
    class_names: list[str],
    input_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    hyperparameters: dict[str, Any],
    epoch: int,
    val_accuracy: float,
    val_loss: float,
    pretrained: bool,
    dataset_hash: str,
) -> dict[str, Any]:
    """The plain-data description stored beside the weights (everything `load_model` needs)."""
    return {
        "format": "tune-image-classifier",
        "format_version": MODEL_FORMAT_VERSION,
        "architecture": architecture,
        "architecture_options": dict(architecture_options),
        "class_names": list(class_names),
        "num_classes": len(class_names),
        "input_size": input_size,
        "resize": "squash to input_size x input_size, Pillow bilinear",
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "hyperparameters": dict(hyperparameters),
        "pretrained": pretrained,
        "epoch": epoch,
        "val_accuracy": float(val_accuracy),
        "val_loss": float(val_loss),
        "dataset_hash": dataset_hash,
        "torch_version": str(torch.__version__),  # TorchVersion would not load with weights_only
        "torchvision_version": str(torchvision.__version__),
    }


def write_model_files(work_dir: Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any]) -> dict[str, Any]:
    """Write `model.pth` and `model.safetensors` atomically; return their paths, size and SHA-256."""
    pth, st = work_dir / "model.pth", work_dir / "model.safetensors"
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in state_dict.items()}
    atomic_write(pth, lambda tmp: torch.save({**metadata, "state_dict": tensors}, tmp))
    atomic_write(
        st,
        lambda tmp: safetensors.torch.save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(metadata)}),
    )
    return {
        "model_path": str(pth),
        "model_size_bytes": pth.stat().st_size,
        "model_sha256": sha256_file(pth),
        "safetensors_path": str(st),
        "safetensors_sha256": sha256_file(st),
    }


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a trained model from its `model.pth` (or `model.safetensors`) alone.

    Returns (model in eval mode on `device`, metadata dict: architecture, class_names,
    input_size, mean, std, hyperparameters, val_accuracy, ...). The .pth is read with
    `torch.load(weights_only=True)`; no weights are downloaded.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = json.loads(handle.metadata()[METADATA_KEY])
        state_dict = safetensors.torch.load_file(str(path))
    else:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        state_dict = saved.pop("state_dict")
        metadata = saved
    model, _ = build_model(
        metadata["architecture"],
        len(metadata["class_names"]),
        metadata["input_size"],
        options=metadata.get("architecture_options"),
    )
    model.load_state_dict(state_dict)
    model.to(device).eval()
    return model, metadata


# Latency: warm up first (the first passes allocate buffers and pick kernels), then time passes one by one and
# take the median, so a burst of other work on the machine does not become the model's figure.
LATENCY_WARMUP_SECONDS = 0.1
LATENCY_TIMING_SECONDS = 0.4
LATENCY_MIN_RUNS, LATENCY_MAX_RUNS = 7, 200


@torch.inference_mode()
def measure_latencies(model: nn.Module, input_size: int, plan: ComputePlan) -> tuple[float | None, float | None]:
    """Milliseconds per image at batch 1 and at batch 64 (`measure_latency_ms`); None where the device ran out of memory.

    A trial may train with batches smaller than 64 on a full GPU: a shortage while timing must
    not fail a trained trial (nor start its out-of-memory retry, memory_retry.py).
    """
    latencies: list[float | None] = []
    for batch in (1, 64):
        try:
            latencies.append(measure_latency_ms(model, input_size, plan, batch))
        except torch.OutOfMemoryError:
            latencies.append(None)
    return latencies[0], latencies[1]


def measure_latency_ms(model: nn.Module, input_size: int, plan: ComputePlan, batch: int) -> float:
    """Milliseconds per image of a forward pass at `batch` images: the median of timed passes after warm-up.

    On CUDA in the training precision; on the CPU in float32, as the `.pth` runs in plain PyTorch.
    """
    from .loop import autocast

    model.eval()
    memory_format = torch.channels_last if plan.channels_last else torch.contiguous_format
    x = torch.randn(batch, 3, input_size, input_size, device=plan.device).contiguous(memory_format=memory_format)

    def timed() -> float:
        started = time.perf_counter()
        with autocast(plan) if plan.device.type == "cuda" else contextlib.nullcontext():
            model(x)
        if plan.device.type == "cuda":
            torch.cuda.synchronize(plan.device)
        return time.perf_counter() - started

    warm_until = time.perf_counter() + LATENCY_WARMUP_SECONDS
    for done in range(LATENCY_MAX_RUNS):
        timed()
        if done >= 2 and time.perf_counter() > warm_until:
            break
    times: list[float] = []
    stop_at = time.perf_counter() + LATENCY_TIMING_SECONDS
    while len(times) < LATENCY_MIN_RUNS or (time.perf_counter() < stop_at and len(times) < LATENCY_MAX_RUNS):
        times.append(timed())
    return statistics.median(times) * 1000.0 / batch
