"""The model page's INT8 export: the checked float ONNX export quantised, measured, and kept or refused.

Run by the `models.export` task (kind `onnx_int8`) through `model_jobs.export_model`, which
makes (or finds) the float ONNX export first. The quantised file is cached beside the `.pth`
like the other exports (so it goes when the trial's folder is deleted), with its figures in
`exports.json`: validation accuracy of both models, sizes, CPU latency at batch 1 and 64,
and whether a TensorRT engine was built (never on a host without TensorRT and CUDA).
"""

from __future__ import annotations

import time

from platform_web.studies.models import Trial
from platform_web.trained_models import services
from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import (
    FILE_KINDS,
    INT8_MAX_ACCURACY_DROP,
    ModelFile,
    export_file,
    model_path,
)
from trainer_api.engine.errors import EngineError
from trainer_api.engine.quantize import QuantizationRefused, quantize_onnx, tensorrt_status
from worker.export_record import record_export

KIND = "onnx_int8"
INT8_CALIBRATION_IMAGES = 300
# Latency is measured on one thread: the worker shares its cores, and one thread compares the two formats
# fairly on any host (the figures of a multi-threaded run depend on what else runs at the time).
INT8_LATENCY_THREADS = 1


def export_int8(trial: Trial, float_onnx: ModelFile) -> ModelFile:
    """Quantise the trial's checked float ONNX export once, check it on the validation split, cache it.

    Raises ModelUnavailable (with the figures) when it loses more than INT8_MAX_ACCURACY_DROP.
    """
    source = model_path(trial)
    folder = source.parent
    label = FILE_KINDS[KIND].label
    with services.file_lock(folder, f"export-{KIND}"):
        existing = export_file(trial, KIND)
        if existing.available:
            return existing
        target = folder / FILE_KINDS[KIND].cached_name
        try:
            report = quantize_onnx(
                float_onnx.path, target, source, services.dataset_dir_of(trial),
                max_accuracy_drop=INT8_MAX_ACCURACY_DROP, calibration_images=INT8_CALIBRATION_IMAGES,
                threads=INT8_LATENCY_THREADS,
            )  # fmt: skip
        except QuantizationRefused as e:
            raise ModelUnavailable(f"The {label} model was not offered: {e}") from e
        except EngineError as e:
            raise ModelUnavailable(f"The {label} export failed: {e}") from e
        figures = {"float_onnx_sha256": float_onnx.sha256, **report.as_record(), "tensorrt": tensorrt_status()}
        record_export(trial, KIND, target, {**figures, "recorded_at": time.time()})
    return export_file(trial, KIND)
