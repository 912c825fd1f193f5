"""small_resnet and bn_cnn: width and depth settings, the minimum size, exports and the self-contained snippet."""

from __future__ import annotations

import json
import subprocess
import sys

import onnxruntime
import pytest
import torch
from PIL import Image

from tests.trainer_api.dataset_builder import make_dataset_dir
from tests.trainer_api.engine.test_artefact import GUARDED_RUN
from trainer_api.engine import ConfigError, TrialConfig, build_model, load_model, predict, run_trial, snippet_source
from trainer_api.engine.architectures import architecture_options, count_parameters
from trainer_api.engine.export import export_onnx, export_torchscript, validation_inputs
from trainer_api.engine.snippet import stem_pools

FAMILIES = [
    ("small_resnet", {"width": 8, "depth": 1}),
    ("small_resnet", {"width": 12, "depth": 3}),
    ("bn_cnn", {"width": 8, "depth": 2}),
    ("bn_cnn", {"width": 10, "depth": 4}),
]


@pytest.fixture(scope="module")
def trained_families(tmp_path_factory):
    """One epoch of each family setting at the minimum input size (16 px), on a 3-class texture set."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("families")
    dataset = make_dataset_dir(root / "dataset", classes=3, per_class=8, size=16, kind="patterns")
    results = {}
    for name, options in FAMILIES:
        config = TrialConfig(architecture=name, input_size=16, batch_size=8, epochs=1, optimizer="adamw",
                             learning_rate=3e-3, scheduler="onecycle", **options)  # fmt: skip
        key = f"{name}-{options['width']}-{options['depth']}"
        results[key] = run_trial(config, dataset, root / key, root / "cache", device="cpu", num_threads=1)
    return dataset, results


def test_each_setting_trains_an_epoch_at_the_minimum_size_and_records_its_options(trained_families):
    _, results = trained_families
    for (name, options), result in zip(FAMILIES, results.values(), strict=True):
        assert result.status == "completed", result.message
        assert result.history[0].train_loss > 0
        model, metadata = load_model(result.model_path)
        assert metadata["architecture"] == name
        assert metadata["architecture_options"] == options
        with torch.inference_mode():
            assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 3)


def test_width_and_depth_change_the_network():
    narrow, _ = build_model("small_resnet", 10, 32, options={"width": 16, "depth": 1})
    wide, _ = build_model("small_resnet", 10, 32, options={"width": 32, "depth": 1})
    deep, _ = build_model("small_resnet", 10, 32, options={"width": 16, "depth": 2})
    assert count_parameters(wide) > 3 * count_parameters(narrow)
    assert count_parameters(deep) > count_parameters(narrow)
    four, _ = build_model("bn_cnn", 10, 32, options={"width": 32, "depth": 4})
    assert sum(isinstance(m, torch.nn.Conv2d) for m in four.modules()) == 8  # the expert's 4 x two convs
    assert [m.out_channels for m in four.modules() if isinstance(m, torch.nn.Conv2d)][-1] == 256


def test_defaults_and_refusals():
    assert architecture_options("small_resnet") == {"width": 32, "depth": 1}
    assert architecture_options("bn_cnn", width=24) == {"width": 24, "depth": 4}
    assert architecture_options("resnet18") == {}
    with pytest.raises(ConfigError, match="resnet18 has no width setting"):
        TrialConfig(architecture="resnet18", input_size=32, width=16)
    with pytest.raises(ConfigError, match="depth between 1 and 3"):
        TrialConfig(architecture="small_resnet", input_size=32, depth=7)
    with pytest.raises(ConfigError, match="bn_cnn of depth 5 needs input size >= 32"):
        TrialConfig(architecture="bn_cnn", input_size=16, depth=5)
    with pytest.raises(ConfigError, match="needs input size >= 16"):
        TrialConfig(architecture="small_resnet", input_size=8)


def test_small_resnet_body_works_near_32_px_whatever_the_input():
    assert [stem_pools(s) for s in (16, 32, 40, 48, 64, 96, 128, 224)] == [0, 0, 0, 1, 1, 2, 2, 3]
    model, _ = build_model("small_resnet", 5, 224, options={"width": 8, "depth": 1})
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 224, 224)).shape == (1, 5)


def test_exports_agree_with_the_pth(trained_families, tmp_path):
    dataset, results = trained_families
    for key, result in results.items():
        inputs = validation_inputs(result.model_path, dataset)
        model, _ = load_model(result.model_path)
        with torch.inference_mode():
            expected = model(inputs)
        script = export_torchscript(result.model_path, tmp_path / f"{key}.pt", inputs)
        onnx = export_onnx(result.model_path, tmp_path / f"{key}.onnx", inputs)
        assert script.max_abs_diff <= 1e-4 and onnx.max_abs_diff <= 1e-4
        session = onnxruntime.InferenceSession(str(tmp_path / f"{key}.onnx"), providers=["CPUExecutionProvider"])
        logits = torch.from_numpy(session.run(None, {"input": inputs.numpy()})[0])
        assert (logits - expected).abs().max() <= 1e-4 * max(1.0, float(expected.abs().max()))
        with torch.inference_mode():
            traced = torch.jit.load(str(tmp_path / f"{key}.pt"))(inputs)
        assert (traced - expected).abs().max() <= 1e-4 * max(1.0, float(expected.abs().max()))


@pytest.mark.slow
def test_each_family_loads_with_the_snippet_in_a_fresh_interpreter(trained_families, tmp_path):
    dataset, results = trained_families
    (tmp_path / "classify.py").write_text(snippet_source())
    (tmp_path / "guard.py").write_text(GUARDED_RUN)
    image = sorted((dataset / "files" / "val").rglob("*.png"))[0]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    for key, result in results.items():
        (tmp_path / f"{key}.pth").write_bytes(open(result.model_path, "rb").read())
        done = subprocess.run(
            [sys.executable, "-I", "guard.py", "classify.py", f"{key}.pth", str(image), "--top-k", "3"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        (line,) = [json.loads(text) for text in done.stdout.splitlines()]
        model, metadata = load_model(result.model_path)
        expected = predict(model, metadata, [Image.open(image)], top_k=3)[0]
        assert [p["class_name"] for p in line["predictions"]] == [p["class_name"] for p in expected]
        assert line["predictions"][0]["probability"] == pytest.approx(expected[0]["probability"], abs=1e-5)
