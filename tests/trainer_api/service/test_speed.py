"""POST /v1/speed: how fast a configuration trains here, which the platform sizes trials' epochs with."""

from __future__ import annotations

from tests.trainer_api.service.helpers import trial_body
from trainer_api.engine import TrialConfig, measure_speed


def speed_body(**config) -> dict:
    values = {"architecture": "small_resnet", "width": 8, "depth": 1, "input_size": 16, "batch_size": 8}
    values.update(config)
    return {"config": values, "num_classes": 3}


def test_the_probe_times_a_configuration_and_remembers_it(client, registry, monkeypatch):
    first = client.post("/v1/speed", json=speed_body())
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["train_images_per_second"] > 0 and report["eval_images_per_second"] > 0
    assert report["eval_images_per_second"] > report["train_images_per_second"]  # a forward pass, no backward
    assert report == {**report, "batch_size": 8, "device": "cpu"}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a configuration timed before is answered from memory")

    monkeypatch.setattr("trainer_api.engine.measure_speed", must_not_run)
    assert client.post("/v1/speed", json=speed_body()).json() == report
    monkeypatch.undo()
    wider = client.post("/v1/speed", json=speed_body(width=32)).json()
    assert wider["train_images_per_second"] < report["train_images_per_second"]  # more channels, slower


def test_the_probe_waits_while_a_trial_trains(client, dataset):
    assert client.post("/v1/trials", json=trial_body("t-long", dataset, epochs=500)).status_code == 202
    busy = client.post("/v1/speed", json=speed_body(width=12))
    assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
    assert client.delete("/v1/trials/t-long").json()["state"] == "cancelled"
    assert client.post("/v1/speed", json=speed_body(width=12)).status_code == 200


def test_a_bad_configuration_is_refused_with_the_reason(client):
    response = client.post("/v1/speed", json=speed_body(architecture="resnet18", width=0, depth=0, input_size=16))
    assert response.status_code == 422
    assert "needs at least 32 px" in response.json()["detail"]


def test_the_report_predicts_an_epoch():
    config = TrialConfig(architecture="bn_cnn", width=8, depth=2, input_size=16, batch_size=16, epochs=1)
    report = measure_speed(config, 4, "cpu", num_threads=1)
    expected = 160 / report.train_images_per_second + 40 / report.eval_images_per_second
    assert report.epoch_seconds(160, 40) == expected
