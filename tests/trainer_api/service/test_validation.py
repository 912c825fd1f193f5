"""Trial requests the service refuses up front, each with a message that says what to change."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from tests.trainer_api.service.helpers import trial_body
from trainer_api.app import DEFAULT_TOKEN, create_app


def refused(client, body) -> tuple[int, str]:
    response = client.post("/v1/trials", json=body)
    detail = response.json()["detail"]
    return response.status_code, detail if isinstance(detail, str) else str(detail)


def test_unknown_architecture_lists_the_known_ones(client, dataset, registry):
    code, detail = refused(client, trial_body("t1", dataset, architecture="vgg99"))
    assert code == 422
    assert "vgg99" in detail and "simple_cnn" in detail and "resnet18" in detail
    assert not registry.work_dir("t1").exists()


def test_input_size_below_the_architecture_minimum_says_the_minimum(client, dataset):
    code, detail = refused(client, trial_body("t2", dataset, architecture="resnet18", input_size=16))
    assert code == 422
    assert "resnet18" in detail and "32" in detail


def test_missing_dataset_folder(client, tmp_path):
    code, detail = refused(client, trial_body("t3", tmp_path / "datasets" / "no-such-dataset"))
    assert code == 422
    assert "No dataset at" in detail and "no-such-dataset" in detail


def test_a_dataset_outside_the_dataset_folder_is_refused_like_a_missing_one(client, dataset, tmp_path, registry):
    copy = tmp_path / "elsewhere" / "1"
    shutil.copytree(dataset, copy)
    answers = {}
    for name, path in {"copy": copy, "root": "/root", "climb": "datasets/../elsewhere/1", "gone": "/no/such"}.items():
        code, detail = refused(client, trial_body(f"out-{name}", path))
        assert code == 422, detail
        answers[name] = detail.replace(repr(str(path)), "<path>")
        assert not registry.work_dir(f"out-{name}").exists()
    assert len(set(answers.values())) == 1, answers  # the same words whether the folder exists or not
    assert str(tmp_path) not in answers["root"] and "manifest" not in answers["copy"]


def test_folder_without_manifest(client, tmp_path):
    (tmp_path / "datasets" / "half-made").mkdir(parents=True)
    code, detail = refused(client, trial_body("t4", tmp_path / "datasets" / "half-made"))
    assert code == 422
    assert "manifest.json" in detail


def test_relative_dataset_path_is_read_from_the_media_folder(client, dataset, trainer_settings):
    relative = dataset.relative_to(trainer_settings.data_dir.parent)  # datasets/1 next to trainer/
    response = client.post("/v1/trials", json=trial_body("t-rel", str(relative), epochs=1))
    assert response.status_code == 202


@pytest.mark.parametrize(
    "field, value, words",
    [("learning_rate", 0, "learning_rate"), ("learning_rate", -1e-3, "learning_rate"), ("batch_size", 0, "batch_size"),
     ("epochs", 0, "epochs"), ("momentum", 1.0, "momentum"), ("optimizer", "lion", "optimizer"),
     ("warmup_epochs", 3, "warmup_epochs"), ("learning_rate", "fast", "learning_rate"),
     ("dropout", 0.5, "dropout")],
)  # fmt: skip
def test_bad_hyperparameters_name_the_field(client, dataset, field, value, words):
    code, detail = refused(client, trial_body("t5", dataset, **{"epochs": 2, field: value}))
    assert code == 422
    assert words in detail


@pytest.mark.parametrize("key", ["../escape", ".hidden", "a/b", "", "x" * 200, "spaces here"])
def test_keys_are_limited_to_a_folder_safe_charset(client, dataset, key, registry):
    code, _ = refused(client, trial_body(key, dataset))
    assert code == 422
    trials = registry.data_dir / "trials"
    assert not trials.exists() or not any(trials.iterdir())


@pytest.mark.parametrize("word", ["1", "true", "YES", " on "])
def test_production_in_any_spelling_refuses_the_default_token(monkeypatch, trainer_settings, word):
    monkeypatch.setenv("PRODUCTION", word)
    with pytest.raises(RuntimeError, match="default TRAINER_TOKEN"):
        create_app(replace(trainer_settings, token=DEFAULT_TOKEN))
    monkeypatch.setenv("PRODUCTION", "off")
    create_app(replace(trainer_settings, token=DEFAULT_TOKEN))


def test_forgetting_a_datasets_cache_removes_its_files_only(client, registry):
    registry.cache_dir.mkdir(parents=True, exist_ok=True)
    mine = [registry.cache_dir / f"v1-abc12345-{size}px.{ext}" for size in (32, 64) for ext in ("npy", "json")]
    other = registry.cache_dir / "v1-def45678-32px.npy"
    for path in (*mine, other):
        path.write_bytes(b"x")
    assert client.delete("/v1/caches/abc12345").json() == {"files_removed": 4}
    assert not any(p.exists() for p in mine) and other.exists()
    assert client.delete("/v1/caches/..%2F..").status_code in (404, 422)
