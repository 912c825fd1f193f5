"""The INT8 export: quantised from the ONNX export, checked on the validation split, refused beyond the tolerance."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from django.conf import settings
from django.urls import reverse

from platform_web.core.formatting import percent
from platform_web.studies.services import delete_study
from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import data_path, export_file
from trainer_api.engine import onnx_measure
from trainer_api.engine.artefact import load_model
from trainer_api.engine.export import export_onnx, validation_inputs
from trainer_api.engine.quantize import quantize_onnx, tensorrt_status
from worker import int8_export, model_jobs


@pytest.fixture(autouse=True)
def quick_timing(monkeypatch):
    """Short latency runs: these tests check that the figures are taken and shown, not how fast the CPU is."""
    monkeypatch.setattr(onnx_measure, "WARMUP_SECONDS", 0.01)
    monkeypatch.setattr(onnx_measure, "TIMING_SECONDS", 0.02)
    monkeypatch.setattr(onnx_measure, "MIN_RUNS", 3)


def int8_predictions(path: Path, inputs: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": inputs.numpy()})[0].argmax(axis=1)


@pytest.mark.django_db
def test_int8_export_is_made_from_the_onnx_export_agrees_with_the_pth_and_records_its_figures(trial):
    entry = model_jobs.export_model(trial, "onnx_int8")
    assert entry.available and entry.path.name == "model.int8.onnx"
    assert entry.download_name.endswith("-trial0.int8.onnx")
    assert export_file(trial, "onnx").available, "made from the checked float ONNX export, which is kept too"
    model_path = data_path(trial.model_path)
    inputs = validation_inputs(model_path, trial.study.dataset.directory)
    model, _ = load_model(model_path)
    with torch.inference_mode():
        expected = model(inputs).argmax(dim=1).numpy()
    agree = (int8_predictions(entry.path, inputs) == expected).mean()
    assert agree >= 0.9, f"INT8 agrees with the .pth on only {agree:.0%} of the validation images"
    d = entry.details
    assert d["method"] == "static" and d["quant_format"] == "QDQ" and d["fallback_reason"] is None
    assert d["calibration_images"] == 30  # every training image of the tiny set (10 per class)
    assert d["val_images"] == 12
    assert d["float_accuracy"] == pytest.approx(trial.value)  # the ONNX export scores what the .pth scored
    assert abs(d["float_accuracy"] - d["int8_accuracy"]) <= 0.01
    assert d["sha256"] == hashlib.sha256(entry.path.read_bytes()).hexdigest()
    assert d["int8_size_bytes"] == entry.size_bytes < d["float_size_bytes"]
    for key in ("float_ms_batch1", "float_ms_batch64", "int8_ms_batch1", "int8_ms_batch64"):
        assert d[key] > 0
    assert d["latency_threads"] == int8_export.INT8_LATENCY_THREADS
    assert d["tensorrt"]["built"] is False and d["tensorrt"]["reason"].startswith("TensorRT engine skipped:")


@pytest.mark.django_db
def test_int8_losing_more_than_the_tolerance_is_refused_with_its_figures(alice_client, trial, monkeypatch):
    monkeypatch.setattr(int8_export, "INT8_MAX_ACCURACY_DROP", -1.0)  # nothing can gain 100 points
    with pytest.raises(ModelUnavailable, match="ONNX INT8 model was not offered: it loses too much accuracy"):
        model_jobs.export_model(trial, "onnx_int8")
    assert not export_file(trial, "onnx_int8").available
    assert not list(data_path(trial.model_path).parent.glob("*int8.onnx*")), "the refused file is deleted"
    # through the page: the job fails and the row says why, with the figures
    response = alice_client.post(reverse("trained_models:export", args=[trial.study_id, 0, "onnx_int8"]))
    assert response.status_code == 302
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0])).content.decode()
    assert "The export failed." in page and "it loses too much accuracy" in page
    assert f"against {percent(trial.value)} for the float model on 12 validation images" in page
    assert "at batch 64" in page and "kB" in page
    url = reverse("trained_models:download", args=[trial.study_id, 0, "onnx_int8"])
    assert alice_client.get(url).status_code == 404


@pytest.mark.django_db
def test_model_page_shows_int8_figures_next_to_the_float_model_and_offers_the_download(alice_client, trial):
    page_url = reverse("trained_models:model", args=[trial.study_id, 0])
    before = alice_client.get(page_url).content.decode()
    assert 'data-kind="onnx_int8"' in before and "Offered only if it loses at most 1 point of accuracy" in before
    response = alice_client.post(reverse("trained_models:export", args=[trial.study_id, 0, "onnx_int8"]))
    assert response.status_code == 302
    entry = export_file(trial, "onnx_int8")
    d = entry.details
    page = alice_client.get(page_url).content.decode()
    assert entry.sha256 in page and entry.download_name in page
    assert f'<td class="float-accuracy">{percent(d["float_accuracy"])}</td>' in page
    assert f'<td class="int8-accuracy">{percent(d["int8_accuracy"])}</td>' in page
    assert "CPU latency per image, batch 1" in page and "CPU latency per image, batch 64" in page
    assert 'class="int8-batch64"' in page and "× as fast" in page
    assert d["tensorrt"]["reason"] in page
    download = alice_client.get(reverse("trained_models:download", args=[trial.study_id, 0, "onnx_int8"]))
    body = b"".join(download.streaming_content)
    assert body == entry.path.read_bytes() and download["X-Content-SHA256"] == entry.sha256


@pytest.mark.django_db
def test_int8_file_goes_with_the_study(trial):
    path = model_jobs.export_model(trial, "onnx_int8").path
    delete_study(study=trial.study)
    assert not path.exists() and not path.parent.exists()
    assert Path(settings.TRAINER_DATA_DIR, "trials").is_dir()


def test_static_quantisation_failing_falls_back_to_dynamic_and_says_why(tmp_path, trained, monkeypatch):
    model_path = trained.trial_dir / "model.pth"
    export_onnx(model_path, tmp_path / "m.onnx", validation_inputs(model_path, trained.dataset_dir))

    def unsupported(*args, **kwargs):
        raise RuntimeError("an operator this quantiser does not know")

    monkeypatch.setattr("trainer_api.engine.quantize.quantize_static", unsupported)
    report = quantize_onnx(tmp_path / "m.onnx", tmp_path / "m.int8.onnx", model_path, trained.dataset_dir,
                           max_accuracy_drop=1.0)  # fmt: skip
    assert report.method == "dynamic" and "an operator this quantiser does not know" in report.fallback_reason
    assert report.calibration_images == 0
    assert (tmp_path / "m.int8.onnx").is_file() and not list(tmp_path.glob(".m.int8.onnx*"))


def test_tensorrt_is_skipped_with_the_reason():
    here = tensorrt_status()
    assert here["built"] is False and here["reason"].startswith("TensorRT engine skipped:")
    neither = tensorrt_status(find_spec=lambda name: None, cuda_available=lambda: False)
    assert "the tensorrt package is not installed and no CUDA GPU is available" in neither["reason"]
    no_gpu = tensorrt_status(find_spec=lambda name: object(), cuda_available=lambda: False)
    assert no_gpu["tensorrt_installed"] and "no CUDA GPU is available" in no_gpu["reason"]
    both = tensorrt_status(find_spec=lambda name: object(), cuda_available=lambda: True)
    assert both["built"] is False and "builds no engines" in both["reason"]
