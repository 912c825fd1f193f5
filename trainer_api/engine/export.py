"""Exporting a trained `.pth` to TorchScript and ONNX, each checked against the `.pth` before it is kept.

An export is written to a temporary name, run on real validation images next to
the original model, and renamed into place only when every output agrees within
`atol`; otherwise it is deleted and ExportCheckFailed says by how much it differed.
Exports run on the CPU in float32, so they never depend on the trainer's GPU.
"""

from __future__ import annotations

import os
import pickle
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .artefact import load_model
from .errors import EngineError
from .images import UnreadableImage, open_rgb
from .inference import prepare_images
from .manifest import read_manifest

ONNX_OPSET = 17


class ExportCheckFailed(EngineError):
    """The exported model's outputs differ from the `.pth` model's by more than the tolerance."""


@dataclass(frozen=True)
class ExportCheck:
    """How an export was checked on `images` validation inputs.

    `max_abs_diff`: largest absolute difference of the logits; `max_prob_diff`: of the
    softmax probabilities; `logit_scale`: the largest absolute logit of the `.pth` model.
    """

    max_abs_diff: float
    max_prob_diff: float
    logit_scale: float
    images: int
    checked_with: str


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The plain metadata of a `.pth` (everything but the weights), read with `weights_only=True`."""
    try:
        saved = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as e:
        raise EngineError(f"{Path(path).name} cannot be read as a model file: {str(e).splitlines()[0]}") from e
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise EngineError(f"{Path(path).name} is not a model file of this platform (no state_dict and metadata)")
    return {key: value for key, value in saved.items() if key != "state_dict"}


def validation_inputs(model_path: str | Path, dataset_dir: str | Path, limit: int = 64) -> torch.Tensor:
    """Up to `limit` validation images of the dataset, prepared exactly as for prediction (N, 3, S, S).

    Picked evenly through the validation split so that every class is likely represented.
    """
    metadata = read_metadata(model_path)
    manifest = read_manifest(dataset_dir)
    val_paths = [p for p, s in zip(manifest.paths, manifest.splits, strict=True) if s == "val"]
    step = max(1, len(val_paths) // limit)
    images = []
    for path in val_paths[::step][:limit]:
        try:
            images.append(open_rgb(path))
        except UnreadableImage:
            continue  # ingestion kept only readable files; a file changed since is simply not used
    if not images:
        raise EngineError("No validation image could be read to check the export against.")
    return prepare_images(images, metadata)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _compare(expected: torch.Tensor, actual: torch.Tensor, atol: float, what: str) -> tuple[float, float, float]:
    """(logit difference, probability difference, logit scale), or ExportCheckFailed.

    Probabilities must agree within `atol`. Logits must agree within `atol` times their
    scale (at least 1): float32 carries about seven significant digits, so a model with
    logits in the thousands (an over-confident one) cannot agree to 1e-4 in absolute
    terms even with itself computed in another order, while logits of ordinary size
    are held to the absolute 1e-4.
    """
    if tuple(expected.shape) != tuple(actual.shape):
        raise ExportCheckFailed(f"{what} returned shape {tuple(actual.shape)}, the .pth {tuple(expected.shape)}")
    diff = float((expected - actual).abs().max())
    scale = float(expected.abs().max())
    prob_diff = float((torch.softmax(expected, dim=1) - torch.softmax(actual, dim=1)).abs().max())
    if not diff <= atol * max(1.0, scale):  # also catches NaN
        raise ExportCheckFailed(
            f"{what} differs from the .pth by {diff:.2e} in its logits on validation images "
            f"(limit {atol:.0e} x logit scale {max(1.0, scale):.3g})"
        )
    if not prob_diff <= atol:
        raise ExportCheckFailed(
            f"{what} differs from the .pth by {prob_diff:.2e} in its probabilities on validation images "
            f"(limit {atol:.0e})"
        )
    return diff, prob_diff, scale


@torch.inference_mode()
def _reference(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return model(inputs).float()


def export_torchscript(model_path: str | Path, out_path: str | Path, inputs: torch.Tensor, atol: float = 1e-4):
    """Trace the model to TorchScript at `out_path`; keep it only if it matches the `.pth` within `atol`.

    Returns ExportCheck. The file loads with `torch.jit.load(path)` without any model code.
    """
    out_path = Path(out_path)
    model, _ = load_model(model_path, device="cpu")
    expected = _reference(model, inputs)
    tmp = _temporary(out_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notices; the format is still what users ask for
            with torch.no_grad():
                traced = torch.jit.trace(model, inputs[:1], check_trace=False)
            torch.jit.save(traced, str(tmp))
            reloaded = torch.jit.load(str(tmp), map_location="cpu").eval()
            with torch.inference_mode():
                actual = reloaded(inputs).float()
        diff, prob_diff, scale = _compare(expected, actual, atol, "The TorchScript model")
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportCheck(diff, prob_diff, scale, images=int(inputs.shape[0]), checked_with="torch.jit.load")


class _AdaptiveAvgPoolAsMatmul(nn.Module):
    """`adaptive_avg_pool2d` at one fixed input size, as two matrix products.

    ONNX's exporter cannot express adaptive pooling whose output size does not
    divide the input size (lite_cnn at 16 px pools 2x2 up to 4x4); the same
    averages as matrices export everywhere and agree to float rounding.
    """

    def __init__(self, in_size: tuple[int, int], out_size: tuple[int, int]) -> None:
        super().__init__()
        self.register_buffer("rows", _pool_matrix(in_size[0], out_size[0]))
        self.register_buffer("cols", _pool_matrix(in_size[1], out_size[1]).t().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols)


def _pool_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """(size_out, size_in) weights of PyTorch's adaptive average pooling along one axis."""
    matrix = torch.zeros(size_out, size_in)
    for i in range(size_out):
        start, end = (i * size_in) // size_out, -(-((i + 1) * size_in) // size_out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _onnx_friendly(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The model with every adaptive average pooling ONNX cannot express replaced by its matrix form."""
    shapes: dict[str, tuple[int, int]] = {}
    hooks = [
        module.register_forward_hook(
            lambda m, args, out, name=name: shapes.__setitem__(name, tuple(args[0].shape[-2:]))
        )
        for name, module in model.named_modules()
        if isinstance(module, nn.AdaptiveAvgPool2d)
    ]
    with torch.inference_mode():
        model(example)
    for hook in hooks:
        hook.remove()
    for name, in_size in shapes.items():
        module = model.get_submodule(name)
        out = module.output_size if isinstance(module.output_size, tuple) else (module.output_size,) * 2
        out_size = tuple(in_size[i] if o is None else o for i, o in enumerate(out))
        if in_size[0] % out_size[0] == 0 and in_size[1] % out_size[1] == 0:
            continue  # a plain average pool: the exporter handles it
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, _AdaptiveAvgPoolAsMatmul(in_size, out_size))
    return model


def export_onnx(model_path: str | Path, out_path: str | Path, inputs: torch.Tensor, atol: float = 1e-4):
    """Export the model to ONNX (dynamic batch size) at `out_path`, checked with onnxruntime within `atol`.

    Input `input` (N, 3, S, S) float32, normalised as in the metadata; output `logits` (N, classes).
    Returns ExportCheck.
    """
    import onnxruntime

    out_path = Path(out_path)
    model, _ = load_model(model_path, device="cpu")
    expected = _reference(model, inputs)
    tmp = _temporary(out_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter: it needs no extra package (the dynamo one needs onnxscript).
            torch.onnx.export(
                _onnx_friendly(model, inputs[:1]),
                (inputs[:1],),
                str(tmp),
                dynamo=False,
                input_names=["input"],
                output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=ONNX_OPSET,
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        session = onnxruntime.InferenceSession(str(tmp), options, providers=["CPUExecutionProvider"])
        actual = torch.from_numpy(session.run(["logits"], {"input": inputs.numpy()})[0]).float()
        diff, prob_diff, scale = _compare(expected, actual, atol, "The ONNX model (onnxruntime)")
        os.replace(tmp, out_path)
    except (RuntimeError, ValueError) as e:  # ExportCheckFailed is neither: it passes through
        raise EngineError(f"torch could not export this model to ONNX: {str(e).splitlines()[0][:300]}") from e
    finally:
        tmp.unlink(missing_ok=True)
    return ExportCheck(diff, prob_diff, scale, images=int(inputs.shape[0]), checked_with="onnxruntime")
