"""The saved model: plain metadata, safetensors twin, load_model, predict, and the self-contained snippet."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tests.trainer_api.dataset_builder import make_dataset_dir
from trainer_api.engine import TrialConfig, load_model, predict, run_trial, snippet_source

# Runs the snippet with every project package made unimportable, so it can only use torch/torchvision/PIL.
GUARDED_RUN = """
import runpy, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"trainer_api", "platform_web", "worker", "tests"}:
            raise ImportError(f"project package {name} imported by the snippet")
sys.meta_path.insert(0, Refuse())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small 4-class model trained on texture patterns (not perfectly: a real accuracy to reproduce)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("artefact")
    dataset = make_dataset_dir(root / "dataset", classes=4, per_class=10, size=16, kind="patterns", val_fraction=0.3)
    config = TrialConfig(architecture="simple_cnn", input_size=16, batch_size=8, epochs=3, learning_rate=2e-3)
    result = run_trial(config, dataset, root / "work", root / "cache", device="cpu", num_threads=1)
    assert result.model_path, result.message
    return dataset, result


def _val_items(dataset):
    items = json.loads((dataset / "manifest.json").read_text())["items"]
    return [item for item in items if item["split"] == "val"]


def test_pth_is_plain_data_that_loads_with_weights_only(trained):
    _, result = trained
    saved = torch.load(result.model_path, weights_only=True)
    assert saved["architecture"] == "simple_cnn"
    assert saved["class_names"] == ["class_00", "class_01", "class_02", "class_03"]
    assert saved["input_size"] == 16 and len(saved["mean"]) == 3 and len(saved["std"]) == 3
    assert saved["hyperparameters"]["learning_rate"] == 2e-3
    assert saved["val_accuracy"] == result.best_val_accuracy and saved["epoch"] == result.best_epoch
    assert saved["torch_version"] == str(torch.__version__) and saved["format_version"] == 1
    assert isinstance(saved["state_dict"], dict)


def test_hashes_and_safetensors_twin(trained):
    _, result = trained
    for path, digest in (
        (result.model_path, result.model_sha256),
        (result.safetensors_path, result.safetensors_sha256),
    ):
        with open(path, "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == digest
    pth = torch.load(result.model_path, weights_only=True)["state_dict"]
    twin = load_file(result.safetensors_path)
    assert set(pth) == set(twin) and all(torch.equal(pth[k], twin[k]) for k in pth)


def test_load_model_from_either_file_gives_the_same_model(trained):
    _, result = trained
    from_pth, meta_pth = load_model(result.model_path)
    from_st, meta_st = load_model(result.safetensors_path)
    assert meta_pth == meta_st
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        assert torch.equal(from_pth(x), from_st(x))


def test_predict_reproduces_the_recorded_accuracy(trained):
    dataset, result = trained
    model, metadata = load_model(result.model_path)
    items = _val_items(dataset)
    images = [Image.open(dataset / item["path"]) for item in items]
    ranked = predict(model, metadata, images, top_k=3)
    assert all(len(rows) == 3 for rows in ranked)
    assert all(rows[0]["probability"] >= rows[1]["probability"] >= rows[2]["probability"] for rows in ranked)
    correct = sum(rows[0]["index"] == item["label"] for rows, item in zip(ranked, items, strict=True))
    assert correct / len(items) == pytest.approx(result.best_val_accuracy)


@pytest.mark.slow
def test_snippet_in_a_fresh_interpreter_reproduces_the_recorded_accuracy(trained, tmp_path):
    dataset, result = trained
    (tmp_path / "classify.py").write_text(snippet_source())
    (tmp_path / "guard.py").write_text(GUARDED_RUN)
    model_file = tmp_path / "model.pth"
    model_file.write_bytes(open(result.model_path, "rb").read())
    items = _val_items(dataset)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    probe = subprocess.run([sys.executable, "-I", "-c", "import trainer_api"], cwd=tmp_path, env=env,
                           capture_output=True, timeout=60)  # fmt: skip
    assert probe.returncode != 0, "the project must not be importable where the snippet runs"
    done = subprocess.run(
        [sys.executable, "-I", "guard.py", "classify.py", "model.pth", *(str(dataset / i["path"]) for i in items)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    names = ["class_00", "class_01", "class_02", "class_03"]
    correct = sum(
        line["predictions"][0]["class_name"] == names[item["label"]] for line, item in zip(lines, items, strict=True)
    )
    assert len(lines) == len(items)
    assert correct / len(items) == pytest.approx(result.best_val_accuracy)
    # Neither chance nor perfect: a wrong preprocessing step would show as a different number.
    assert 0.25 < result.best_val_accuracy < 1.0
