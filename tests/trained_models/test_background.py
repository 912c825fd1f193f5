"""The evaluation and exports run in the worker: the web answers at once, queues each job once, shows failures."""

from __future__ import annotations

import json
import os
import time

import pytest
from django.urls import reverse
from kombu.exceptions import OperationalError

from platform_web.celery import app
from platform_web.core.launcher import plan_children
from platform_web.trained_models import background, services
from platform_web.trained_models.files import export_file, model_dir
from trainer_api.engine import evaluate, export
from worker import model_jobs, model_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(settings, monkeypatch):
    """A broker stand-in: tasks are recorded, not run, until the test runs them as the worker would."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent: list[tuple[str, list]] = []
    for task in (model_tasks.evaluate_model_task, model_tasks.export_model_task):
        monkeypatch.setattr(
            task, "apply_async", lambda args=(), kwargs=None, _name=task.name, **kw: sent.append((_name, list(args)))
        )
    return sent


def run_queued(sent: list[tuple[str, list]]) -> None:
    """What the worker does with the queued messages."""
    for name, args in sent:
        app.tasks[name](*args)
    sent.clear()


@pytest.fixture
def slow_engine(monkeypatch):
    """An evaluation and exports that take 3 s each: computed in a request, they would show in its time."""
    for module, name in ((evaluate, "evaluate_model"), (export, "export_onnx")):
        real = getattr(module, name)

        def slow(*args, _real=real, **kwargs):
            time.sleep(3)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, slow)


def test_tasks_go_to_the_models_queue_which_a_worker_of_its_own_consumes():
    for name in ("models.evaluate", "models.export"):
        assert app.amqp.router.route({}, name)["queue"].name == "models"
    assert "worker.model_tasks" in app.conf.include
    children = plan_children(python="python", web_port=1, trainer_port=2, inference_port=3, host="127.0.0.1",
                             worker_concurrency=2)  # fmt: skip
    queues = {c.name: c.argv[c.argv.index("--queues") + 1] for c in children if "--queues" in c.argv}
    assert queues == {"worker": "training", "ingest-worker": "ingest", "model-worker": "models"}


def test_evaluation_answers_pending_at_once_and_queues_once(alice_client, trial, queue, slow_engine):
    url = reverse("trained_models:evaluation", args=[trial.study_id, 0])
    started = time.monotonic()
    response = alice_client.get(url)
    took = time.monotonic() - started
    assert response.status_code == 202
    answer = response.json()
    assert answer["state"] == "pending" and answer["phase"] == "queued"
    assert answer["message"] == "Evaluating the model on 12 validation images…"
    assert took < 1.0, f"the view took {took:.2f} s: it must not evaluate in the request"
    assert services.cached_evaluation(trial) is None
    # a refresh, a second poll and the page itself do not queue it again
    assert alice_client.get(url).status_code == 202
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0])).content.decode()
    assert "Evaluating the model on 12 validation images…" in page and 'data-state="pending"' in page
    assert queue == [("models.evaluate", [trial.pk])]

    run_queued(queue)
    ready = alice_client.get(url)
    assert ready.status_code == 200 and ready.json()["state"] == "ready"
    assert 'id="confusion-matrix"' in ready.json()["html"]
    assert queue == [], "a cached evaluation queues nothing"


def test_export_answers_pending_at_once_then_the_file(alice_client, trial, queue, slow_engine):
    url = reverse("trained_models:export", args=[trial.study_id, 0, "onnx"])
    assert alice_client.get(url).json()["state"] == "idle"
    started = time.monotonic()
    response = alice_client.post(url, HTTP_ACCEPT="application/json")
    took = time.monotonic() - started
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["state"] == "pending" and answer["message"] == "Exporting to ONNX and checking it…"
    assert 'data-state="pending"' in answer["row_html"]
    assert took < 1.0, f"the view took {took:.2f} s: it must not export in the request"
    assert alice_client.post(url, HTTP_ACCEPT="application/json").status_code == 202
    assert alice_client.get(url).status_code == 202
    assert queue == [("models.export", [trial.pk, "onnx"])]

    run_queued(queue)
    ready = alice_client.get(url)
    assert ready.status_code == 200
    body = ready.json()
    entry = export_file(trial, "onnx")
    assert body["state"] == "ready" and body["sha256"] == entry.sha256
    assert body["download_url"] == reverse("trained_models:download", args=[trial.study_id, 0, "onnx"])
    assert entry.sha256 in body["row_html"] and "ready" in body["message"]


def test_plain_form_post_comes_back_to_the_page_that_refreshes_itself(alice_client, trial, queue):
    url = reverse("trained_models:export", args=[trial.study_id, 0, "torchscript"])
    response = alice_client.post(url, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0].endswith("/model/#files")
    assert "Exporting to TorchScript and checking it…" in page
    assert '<meta http-equiv="refresh"' in page, "without the script the page reloads until the file is ready"
    run_queued(queue)
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0])).content.decode()
    assert export_file(trial, "torchscript").sha256 in page
    assert '<meta http-equiv="refresh"' not in page


def test_a_failing_export_shows_its_message(alice_client, trial, monkeypatch):
    monkeypatch.setattr(model_jobs, "EXPORT_TOLERANCE", -1.0)  # no export can be within a negative tolerance
    url = reverse("trained_models:export", args=[trial.study_id, 0, "onnx"])
    response = alice_client.post(url, follow=True)
    page = response.content.decode()
    assert 'class="message error"' in page and "The ONNX export was not offered" in page
    assert "The export failed." in page and "Try again" in page  # in the file's row too
    status = alice_client.get(url)
    assert status.status_code == 409
    assert status.json()["state"] == "failed" and "was not offered" in status.json()["error"]
    error = json.loads((model_dir(trial) / "onnx.error.json").read_text())
    assert error["model_sha256"] == trial.model_sha256
    # the failure is remembered, not retried by every poll; "Try again" runs it again
    monkeypatch.setattr(model_jobs, "EXPORT_TOLERANCE", 1e-4)
    assert alice_client.get(url).json()["state"] == "failed"
    again = alice_client.post(url, HTTP_ACCEPT="application/json")
    assert again.status_code == 200 and again.json()["state"] == "ready"
    assert not (model_dir(trial) / "onnx.error.json").exists()


def test_an_internal_error_in_the_worker_is_shown_not_waited_for(alice_client, trial, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr("worker.model_jobs.evaluate_model", broken)
    response = alice_client.get(reverse("trained_models:evaluation", args=[trial.study_id, 0]))
    assert response.status_code == 409
    assert "internal error (RuntimeError('out of cheese'))" in response.json()["error"]
    assert not (model_dir(trial) / ".evaluation.job.json").exists()


def test_a_job_whose_worker_died_is_reported_and_can_be_retried(alice_client, trial, queue):
    marker = model_dir(trial) / ".evaluation.job.json"
    marker.write_text(json.dumps({"state": "running", "since": time.time() - background.RUNNING_STALE_AFTER - 5}))
    url = reverse("trained_models:evaluation", args=[trial.study_id, 0])
    response = alice_client.get(url)
    assert response.status_code == 409 and "stopped before it finished" in response.json()["error"]
    assert queue == []
    assert alice_client.post(url, HTTP_ACCEPT="application/json").status_code == 202
    assert queue == [("models.evaluate", [trial.pk])]


def test_a_long_queued_job_is_sent_again(alice_client, trial, queue):
    url = reverse("trained_models:evaluation", args=[trial.study_id, 0])
    alice_client.get(url)
    marker = model_dir(trial) / ".evaluation.job.json"
    marker.write_text(json.dumps({"state": "queued", "since": time.time() - background.QUEUED_RESEND_AFTER - 5}))
    assert alice_client.get(url).status_code == 202
    assert len(queue) == 2, "the first message may be lost: a copy is sent (it finds the result if both run)"


def test_broker_down_gives_a_message_and_queues_later(alice_client, trial, settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(model_tasks.evaluate_model_task, "apply_async", down)
    response = alice_client.get(reverse("trained_models:evaluation", args=[trial.study_id, 0]))
    assert response.status_code == 409
    assert "task queue could not be reached" in response.json()["error"]
    assert not (model_dir(trial) / ".evaluation.job.json").exists(), "the next request tries to queue it again"


def test_the_task_for_a_deleted_trial_does_nothing(trial):
    pk = trial.pk
    trial.delete()
    assert model_tasks.evaluate_model_task(pk) == "gone"


def test_job_routes_are_404_for_another_user(client, other_user, trial):
    client.force_login(other_user)
    evaluation = reverse("trained_models:evaluation", args=[trial.study_id, 0])
    export = reverse("trained_models:export", args=[trial.study_id, 0, "onnx"])
    assert client.get(evaluation).status_code == 404
    assert client.post(evaluation).status_code == 404
    assert client.get(export).status_code == 404
    assert client.post(export, HTTP_ACCEPT="application/json").status_code == 404
    assert not list(model_dir(trial).glob("*.job.json")) and not list(model_dir(trial).glob(".*.job.json"))


def test_a_marker_left_half_written_does_not_block_the_job_for_good(alice_client, trial, queue):
    marker = model_dir(trial) / ".evaluation.job.json"
    marker.write_text("")  # a request died between creating the marker and writing it
    url = reverse("trained_models:evaluation", args=[trial.study_id, 0])
    assert alice_client.get(url).status_code == 202
    assert queue == [], "young: it may still be written"
    old = time.time() - background.QUEUED_RESEND_AFTER - 5
    os.utime(marker, (old, old))
    assert alice_client.get(url).status_code == 202
    assert queue == [("models.evaluate", [trial.pk])]
