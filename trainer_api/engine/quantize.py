"""INT8: the float ONNX export quantised with ONNX Runtime, checked on the validation split before it is kept.

Static quantisation (QDQ format, weights per output channel, int8 weights and uint8
activations) calibrated on a few hundred training images prepared exactly as the
model's input. Where static quantisation fails for an architecture (an operator the
quantiser or the runtime cannot handle), dynamic quantisation (weights only, activation
ranges computed per batch at run time) is used instead and the report says so and why.

The result is written to a temporary name, both models classify every validation image
and are timed on the CPU, and the INT8 file is renamed into place only when it loses at
most `max_accuracy_drop` of accuracy; otherwise it is deleted and QuantizationRefused
carries the figures. A TensorRT engine is not built here: `tensorrt_status` says why.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_dynamic,
    quantize_static,
)

from .errors import EngineError
from .export import _temporary, read_metadata
from .onnx_measure import compare_on_validation, cpu_session, image_batches, latency_ms

CALIBRATION_IMAGES = 300
LATENCY_BATCHES = (1, 64)


class QuantizationRefused(EngineError):
    """The INT8 model lost more accuracy on the validation split than allowed; `report` has the figures."""

    def __init__(self, message: str, report: Int8Report) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Int8Report:
    """How the INT8 model was made and how it compares with the float ONNX model it came from.

    Accuracies are fractions on `val_images` validation images; latencies are milliseconds
    per image with onnxruntime on the CPU at `latency_threads` threads.
    """

    method: str  # "static" or "dynamic"
    quant_format: str
    per_channel: bool
    calibration_images: int
    fallback_reason: str | None
    val_images: int
    float_accuracy: float
    int8_accuracy: float
    agreement: float  # fraction of validation images both models give the same class
    max_accuracy_drop: float
    float_size_bytes: int
    int8_size_bytes: int
    latency_threads: int
    float_ms_batch1: float
    float_ms_batch64: float
    int8_ms_batch1: float
    int8_ms_batch64: float
    seconds: float

    @property
    def accuracy_drop(self) -> float:
        return self.float_accuracy - self.int8_accuracy

    def as_record(self) -> dict[str, Any]:
        """JSON-ready, with the derived figures (accuracy drop in points, speed-ups) spelt out."""
        return {
            **asdict(self),
            "accuracy_drop_points": round(self.accuracy_drop * 100, 3),
            "speedup_batch1": self.float_ms_batch1 / self.int8_ms_batch1,
            "speedup_batch64": self.float_ms_batch64 / self.int8_ms_batch64,
        }

    def summary(self) -> str:
        """The figures in one sentence, for a refusal message."""
        return (
            f"INT8 accuracy {self.int8_accuracy:.1%} against {self.float_accuracy:.1%} for the float model on "
            f"{self.val_images} validation images ({self.accuracy_drop * 100:.1f} points lost; at most "
            f"{self.max_accuracy_drop * 100:.1f} allowed). Size {self.int8_size_bytes / 1000:.1f} kB against "
            f"{self.float_size_bytes / 1000:.1f} kB; CPU latency per image ({self.latency_threads} thread"
            f"{'s' if self.latency_threads != 1 else ''}) {self.int8_ms_batch1:.3g} ms against "
            f"{self.float_ms_batch1:.3g} ms at batch 1, {self.int8_ms_batch64:.3g} ms against "
            f"{self.float_ms_batch64:.3g} ms at batch 64."
        )


class _CalibrationImages(CalibrationDataReader):
    """Training images, prepared exactly as the model's input, in batches for the calibrator."""

    def __init__(self, dataset_dir: Path, metadata: dict[str, Any], limit: int) -> None:
        self.count = 0
        self._batches = image_batches(dataset_dir, metadata, "train", limit=limit, batch_size=32)

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.count += len(batch[1])
        return {"input": batch[0]}


def _quantize_static(source: Path, target: Path, dataset_dir: Path, metadata: dict, limit: int) -> int:
    """Static QDQ quantisation of `source` into `target`; returns the calibration image count."""
    prepared = target.with_name(target.name + ".pre.onnx")
    try:
        try:  # shape inference and graph fusions first, as ONNX Runtime recommends; the raw graph works too
            quant_pre_process(str(source), str(prepared))
            model_input = prepared
        except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
            model_input = source
        reader = _CalibrationImages(dataset_dir, metadata, limit)
        quantize_static(
            str(model_input),
            str(target),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,  # one scale per output channel: conv filters differ widely in range
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    finally:
        prepared.unlink(missing_ok=True)
    if reader.count == 0:
        raise EngineError("No training image could be read to calibrate the quantisation on.")
    return reader.count


def _runs(path: Path, input_size: int) -> None:
    """The model loads in onnxruntime and classifies a batch (a quantised graph can fail only at this point)."""
    session = cpu_session(path, threads=1)
    session.run(None, {"input": torch.zeros(2, 3, input_size, input_size).numpy()})


def quantize_onnx(float_onnx: str | Path, out_path: str | Path, model_path: str | Path, dataset_dir: str | Path,
                  *, max_accuracy_drop: float = 0.01, calibration_images: int = CALIBRATION_IMAGES,
                  threads: int = 1) -> Int8Report:  # fmt: skip
    """Quantise the float ONNX export `float_onnx` of the `.pth` `model_path` to INT8 at `out_path`.

    Calibrated on up to `calibration_images` training images of `dataset_dir`; checked on
    its whole validation split and timed at batch 1 and 64 at `threads` threads next to the
    float model. Kept only when it loses at most `max_accuracy_drop` (a fraction: 0.01 is one
    point) of accuracy; otherwise QuantizationRefused with the report. Returns Int8Report.
    """
    started = time.monotonic()
    float_onnx, out_path, dataset_dir = Path(float_onnx), Path(out_path), Path(dataset_dir)
    metadata = read_metadata(model_path)
    size = int(metadata["input_size"])
    tmp = _temporary(out_path)
    try:
        method, fallback, calibrated = "static", None, 0
        try:
            calibrated = _quantize_static(float_onnx, tmp, dataset_dir, metadata, calibration_images)
            _runs(tmp, size)
        except EngineError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the static path is recorded, then dynamic is tried
            method, fallback = "dynamic", f"static quantisation failed: {str(e).splitlines()[0][:300]}"
            tmp.unlink(missing_ok=True)
            quantize_dynamic(str(float_onnx), str(tmp), per_channel=True, weight_type=QuantType.QInt8)
            _runs(tmp, size)
        agreement = compare_on_validation(float_onnx, tmp, dataset_dir, metadata, threads=threads)
        timing = latency_ms({"float": float_onnx, "int8": tmp}, size, LATENCY_BATCHES, threads=threads)
        report = Int8Report(
            method=method, quant_format="QDQ" if method == "static" else "QOperator (dynamic)", per_channel=True,
            calibration_images=calibrated, fallback_reason=fallback, val_images=agreement.images,
            float_accuracy=agreement.accuracy_a, int8_accuracy=agreement.accuracy_b,
            agreement=agreement.same_prediction / agreement.images, max_accuracy_drop=max_accuracy_drop,
            float_size_bytes=float_onnx.stat().st_size, int8_size_bytes=tmp.stat().st_size, latency_threads=threads,
            float_ms_batch1=timing["float"][1], float_ms_batch64=timing["float"][64],
            int8_ms_batch1=timing["int8"][1], int8_ms_batch64=timing["int8"][64],
            seconds=round(time.monotonic() - started, 2),
        )  # fmt: skip
        # A small epsilon: equal accuracies must pass a zero tolerance despite float rounding.
        if report.accuracy_drop > max_accuracy_drop + 1e-9:
            raise QuantizationRefused(f"it loses too much accuracy. {report.summary()}", report)
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return report


def tensorrt_status(
    *,
    find_spec: Callable[[str], object] = importlib.util.find_spec,
    cuda_available: Callable[[], bool] = torch.cuda.is_available,
) -> dict[str, Any]:
    """Whether a TensorRT engine could be built on this host, and why not: `{"built": False, "reason": ...}`.

    Building one needs the `tensorrt` package and a CUDA GPU. Where both are present this
    version still builds none (no engine is faked); the reason says that too.
    """
    missing = []
    if find_spec("tensorrt") is None:
        missing.append("the tensorrt package is not installed")
    if not cuda_available():
        missing.append("no CUDA GPU is available")
    if missing:
        reason = f"TensorRT engine skipped: {' and '.join(missing)} on the worker that quantised this model."
    else:
        reason = "TensorRT engine skipped: TensorRT and a CUDA GPU are present, but this version builds no engines."
    return {"built": False, "tensorrt_installed": "the tensorrt package is not installed" not in missing,
            "cuda_available": "no CUDA GPU is available" not in missing, "reason": reason}  # fmt: skip
