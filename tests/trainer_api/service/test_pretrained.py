"""The service says which architectures can start pretrained, and refuses a pretrained trial without weights (422)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torchvision
from fastapi.testclient import TestClient

from tests.trainer_api.service.helpers import AUTH, trial_body
from trainer_api.app import create_app
from trainer_api.engine import weights
from trainer_api.settings import TrainerSettings


def weights_rows(client) -> dict[str, tuple]:
    rows = client.get("/v1/architectures").json()
    return {row["name"]: (row["pretrained_weights"], row["weights_source"]) for row in rows}


def test_without_weights_nothing_is_offered_and_a_pretrained_trial_is_422(client, dataset, registry):
    rows = weights_rows(client)
    assert rows["resnet18"] == (False, None) and rows["small_resnet"] == (False, None)
    response = client.post("/v1/trials", json=trial_body("pre-1", dataset, architecture="resnet18", input_size=32,
                                                          pretrained=True))  # fmt: skip
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "No pretrained weights for resnet18" in detail
    assert "python manage.py import_weights FILE --arch resnet18" in detail
    assert not registry.work_dir("pre-1").exists()


def test_pretrained_on_a_network_without_weights_of_its_own_is_422(client, dataset):
    response = client.post("/v1/trials", json=trial_body("pre-2", dataset, pretrained=True))
    assert response.status_code == 422 and "simple_cnn has no pretrained weights" in response.json()["detail"]


def test_weights_in_the_folder_or_torchvisions_cache_are_reported_and_accepted(client, dataset, trainer_settings):
    folder = trainer_settings.weights_dir
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), folder / "resnet18.pth")
    cache = weights.hub_checkpoints_dir()
    cache.mkdir(parents=True)
    torch.save(
        torchvision.models.mobilenet_v3_small(weights=None).state_dict(), cache / "mobilenet_v3_small-047dcff4.pth"
    )
    rows = weights_rows(client)
    assert rows["resnet18"] == (True, "weights folder")
    assert rows["mobilenet_v3_small"] == (True, "torchvision cache")
    assert rows["densenet121"] == (False, None)
    body = trial_body("pre-3", dataset, architecture="resnet18", input_size=32, pretrained=True, freeze_epochs=1)
    started = client.post("/v1/trials", json=body)
    assert started.status_code == 202, started.json()
    client.delete("/v1/trials/pre-3")


def test_downloads_are_offered_only_when_allowed(trainer_settings):
    app = create_app(dataclasses.replace(trainer_settings, download_weights=True))
    with TestClient(app, headers=AUTH) as client:
        assert weights_rows(client)["efficientnet_b0"] == (True, "download")
    assert trainer_settings.download_weights is False  # off unless TRAINER_DOWNLOAD_WEIGHTS says otherwise


@pytest.mark.parametrize("value, expected", [("1", True), ("yes", True), ("", False), ("0", False)])
def test_the_download_setting_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("TRAINER_DOWNLOAD_WEIGHTS", value)
    assert TrainerSettings().download_weights is expected
