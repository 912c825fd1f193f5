"""The training-service client's error kinds, and how a trial waits out a busy or briefly absent service."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from django.utils import timezone

from platform_web.studies.models import EpochMetric, Study, Trial
from platform_web.studies.trainer_client import (
    TrainerBusy,
    TrainerClient,
    TrainerRejected,
    TrainerUnavailable,
    UnknownTrainerTrial,
)
from tests.studies.factories import tiny_space
from trainer_api.schemas import EpochEvent, FinishedEvent, Health, HeartbeatEvent, TrialStatus
from worker.studies.objective import MAX_SKIPS_IN_A_ROW, Objective


def client_for(handler) -> TrainerClient:
    return TrainerClient("http://trainer.test", token="t", transport=httpx.MockTransport(handler))


def test_errors_become_domain_errors_with_the_services_message():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer t"
        if request.method == "POST":
            body = json.loads(request.content)
            if body["key"] == "busy":
                return httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "All 1 slot(s) are busy"})
            return httpx.Response(422, json={"detail": "input_size 8 is too small for resnet18"})
        if request.url.path.endswith("/gone"):
            return httpx.Response(404, json={"detail": "No trial with key 'gone'"})
        return httpx.Response(503, text="restarting")

    client = client_for(handler)
    with pytest.raises(TrainerBusy) as busy:
        client.submit("busy", "datasets/x", {})
    assert busy.value.retry_after == 7 and "busy" in str(busy.value)
    with pytest.raises(TrainerRejected, match="too small for resnet18"):
        client.submit("k", "datasets/x", {})
    with pytest.raises(UnknownTrainerTrial):
        client.status("gone")
    assert client.cancel("gone") is None
    with pytest.raises(TrainerUnavailable, match="HTTP 503"):
        client.health()


def test_connection_refused_is_unavailable():
    def handler(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(TrainerUnavailable, match="did not answer"):
        client_for(handler).health()


def test_event_stream_yields_lines_from_the_offset():
    lines = [{"type": "epoch", "epoch": 1, "epochs": 3, "offset": 0, "val_accuracy": 0.5}, {"type": "heartbeat"},
             {"type": "finished", "offset": 1, "state": "completed", "result": {"status": "completed"}}]  # fmt: skip

    def handler(request):
        offset = int(request.url.params["offset"])
        body = "".join(json.dumps(line) + "\n" for line in lines[offset:])
        return httpx.Response(200, text=body, headers={"Content-Type": "application/x-ndjson"})

    client = client_for(handler)
    events = list(client.events("k", 0))
    assert [type(e) for e in events] == [EpochEvent, HeartbeatEvent, FinishedEvent]
    assert events[0].val_accuracy == 0.5 and events[0].train_loss is None and events[2].result.status == "completed"
    assert [e.type for e in client.events("k", 2)] == ["finished"]


def test_answers_are_the_services_models_and_a_malformed_one_is_an_outage():
    health = {"status": "ok", "device": "cpu", "device_type": "cpu", "torch": "2", "torchvision": "0", "python": "3",
              "slots_busy": 0, "slots_total": 1}  # fmt: skip
    stream = '{"type": "epoch", "epoch": 1}\n'  # no "epochs", no "offset": not what the contract promises

    def handler(request):
        if request.url.path == "/v1/health":
            return httpx.Response(200, json=health)
        if request.url.path == "/v1/trials/k":
            return httpx.Response(200, json={"state": "running"})
        return httpx.Response(200, text=stream)

    client = client_for(handler)
    assert isinstance(client.health(), Health) and client.health().slots_total == 1
    with pytest.raises(TrainerUnavailable, match="oddly"):
        client.status("k")
    with pytest.raises(TrainerUnavailable, match="not events"):
        list(client.events("k", 0))


class FlakyService:
    """submit() answers 429 twice, then refuses the connection once, then accepts."""

    base_url = "http://trainer.test"

    def __init__(self) -> None:
        self.calls = 0

    def submit(self, key, dataset_path, config):
        self.calls += 1
        if self.calls <= 2:
            raise TrainerBusy("busy", retry_after=0.01)
        if self.calls == 3:
            raise TrainerUnavailable("refused")
        return TrialStatus(key=key, state="queued", epochs_done=0)


@pytest.mark.django_db
def test_a_trial_waits_for_a_busy_service_then_starts(user, dataset, monkeypatch):
    monkeypatch.setattr(Objective, "_sleep", lambda self, seconds: None)
    study = Study.objects.create(owner=user, dataset=dataset, name="s", space=tiny_space(), n_trials=1,
                                 optuna_name=f"study-{uuid.uuid4()}", state="running")  # fmt: skip
    service = FlakyService()
    status = Objective(study.pk, 0, service)._submit("k", "datasets/x", {})
    assert status.key == "k" and status.state == "queued" and service.calls == 4


@pytest.mark.django_db
def test_a_trial_that_cannot_fit_the_time_left_is_not_started(user, dataset):
    study = Study.objects.create(owner=user, dataset=dataset, name="s", space=tiny_space(), timeout_seconds=20,
                                 optuna_name=f"study-{uuid.uuid4()}", state="running",
                                 run_started_at=timezone.now() - timezone.timedelta(seconds=6))  # fmt: skip
    done = Trial.objects.create(study=study, number=0, state="completed", epochs_planned=2, epochs_done=2,
                                params={"architecture": "simple_cnn", "input_size": 16, "batch_size": 16})  # fmt: skip
    EpochMetric.objects.create(trial=done, epoch=1, seconds=1.0)
    runner = Objective(study.pk, 0, client=None)
    config = {"architecture": "simple_cnn", "input_size": 16, "batch_size": 16}
    assert runner._skip_if_too_long(study, {**config, "epochs": 5}) is None  # about 8 s of 14 s left
    skipped = runner._skip_if_too_long(study, {**config, "epochs": 12})  # about 15 s
    assert skipped.state == "skipped" and "would take about 15 s and the time budget has" in skipped.error
    assert not runner.out_of_time  # a cheaper configuration may still fit the time left
    for _ in range(MAX_SKIPS_IN_A_ROW - 1):
        runner._skip_if_too_long(study, {**config, "epochs": 12})
    assert runner.out_of_time  # the slot stops after a few in a row
