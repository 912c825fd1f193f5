"""TorchScript and ONNX exports agree with the `.pth` within 1e-4, checked independently of the exporter."""

from __future__ import annotations

import onnxruntime
import pytest
import torch

from platform_web.trained_models.errors import ModelUnavailable
from platform_web.trained_models.files import data_path, export_file
from tests.trained_models.builders import train_model
from trainer_api.engine.artefact import load_model
from trainer_api.engine.export import ExportCheckFailed, export_onnx, export_torchscript, validation_inputs
from worker import model_jobs

TOLERANCE = 1e-4


def reference_and_inputs(model_path, dataset_dir):
    inputs = validation_inputs(model_path, dataset_dir, limit=64)
    model, _ = load_model(model_path)
    with torch.inference_mode():
        return model(inputs).float(), inputs


def onnx_logits(path, inputs):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": inputs.numpy()})[0])


def torchscript_logits(path, inputs):
    with torch.inference_mode():
        return torch.jit.load(str(path)).eval()(inputs).float()


def assert_matches(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Probabilities within 1e-4; logits within 1e-4 of their scale (absolute 1e-4 for logits up to 1)."""
    probabilities = (torch.softmax(actual, dim=1) - torch.softmax(expected, dim=1)).abs().max()
    assert probabilities <= TOLERANCE
    assert (actual - expected).abs().max() <= TOLERANCE * max(1.0, float(expected.abs().max()))


@pytest.mark.django_db
def test_platform_exports_match_the_pth(trial):
    onnx = model_jobs.export_model(trial, "onnx")
    script = model_jobs.export_model(trial, "torchscript")
    model_path = data_path(trial.model_path)
    expected, inputs = reference_and_inputs(model_path, trial.study.dataset.directory)
    assert inputs.shape[0] == 12  # every validation image of the tiny dataset
    assert (onnx_logits(onnx.path, inputs) - expected).abs().max() <= TOLERANCE
    assert (torchscript_logits(script.path, inputs) - expected).abs().max() <= TOLERANCE
    # a batch size other than the one traced with works too (dynamic batch axis)
    assert (onnx_logits(onnx.path, inputs[:5]) - expected[:5]).abs().max() <= TOLERANCE
    assert_matches(onnx_logits(onnx.path, inputs), expected)
    assert_matches(torchscript_logits(script.path, inputs), expected)
    assert onnx.details["checked_with"] == "onnxruntime" and onnx.details["max_abs_diff"] <= TOLERANCE
    assert onnx.details["max_prob_diff"] <= TOLERANCE


@pytest.mark.django_db
def test_export_is_made_once_and_cached(trial, monkeypatch):
    first = model_jobs.export_model(trial, "onnx")

    def must_not_run(*args, **kwargs):
        raise AssertionError("exported twice")

    monkeypatch.setattr("worker.model_jobs.export_onnx", must_not_run)
    again = model_jobs.export_model(trial, "onnx")
    assert again.path == first.path and again.sha256 == first.sha256


@pytest.mark.django_db
def test_export_that_fails_its_check_is_not_offered(trial, monkeypatch):
    monkeypatch.setattr(model_jobs, "EXPORT_TOLERANCE", -1.0)  # nothing can be within a negative tolerance
    with pytest.raises(ModelUnavailable, match="was not offered: The ONNX model"):
        model_jobs.export_model(trial, "onnx")
    assert not export_file(trial, "onnx").available
    folder = data_path(trial.model_path).parent
    assert not list(folder.glob("*.onnx*")), "the failed export is deleted"


@pytest.mark.parametrize(
    ("architecture", "input_size"), [("lite_cnn", 16), ("mobilenet_v3_small", 32), ("resnet18", 32)]
)
def test_engine_exports_of_other_architectures(tmp_path, architecture, input_size):
    trained = train_model(tmp_path, architecture=architecture, input_size=input_size, epochs=1)
    model_path = trained.trial_dir / "model.pth"
    expected, inputs = reference_and_inputs(model_path, trained.dataset_dir)
    check = export_onnx(model_path, tmp_path / "m.onnx", inputs, atol=TOLERANCE)
    assert check.max_prob_diff <= TOLERANCE
    assert_matches(onnx_logits(tmp_path / "m.onnx", inputs), expected)
    export_torchscript(model_path, tmp_path / "m.pt", inputs, atol=TOLERANCE)
    assert_matches(torchscript_logits(tmp_path / "m.pt", inputs), expected)


def test_engine_check_refuses_a_mismatch(tmp_path, trained):
    inputs = validation_inputs(trained.trial_dir / "model.pth", trained.dataset_dir)
    with pytest.raises(ExportCheckFailed, match="differs from the .pth"):
        export_torchscript(trained.trial_dir / "model.pth", tmp_path / "m.pt", inputs, atol=-1.0)
    assert not list(tmp_path.glob("*m.pt*"))
