"""The whole platform (web + Celery worker + trainer): a study's best model downloaded, evaluated, exported, tried.

The evaluation and the export run in the real Celery worker: the web answers "pending" and the test polls.

The rows come from a real study run by the worker through the training service,
so this checks that the paths and metadata the studies record are the ones the
model pages serve, and that try-it goes through the platform's own trainer.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest

from tests.studies.platform_client import PASSWORD, Session, seed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_study(running_platform):
    seed(running_platform, action="user", username="alice", password=PASSWORD)
    seed(running_platform, action="user", username="mallory", password=PASSWORD)
    dataset = seed(running_platform, action="dataset", username="alice", options={"classes": 3, "per_class": 8})
    study = seed(running_platform, action="study", username="alice", dataset=dataset["id"], n_trials=2,
                 name="Journey")  # fmt: skip
    alice = Session(running_platform, "alice")
    state = alice.wait_state(study["id"], ("completed", "failed", "cancelled"), timeout=240)
    assert state["state"] == "completed", state
    return running_platform, alice, study["id"], Path(dataset["directory"])


def best_trial(session: Session, study_id: str) -> dict:
    trials = [t for t in session.trials(study_id) if t["state"] == "completed" and t.get("value") is not None]
    assert trials, session.trials(study_id)
    return max(trials, key=lambda t: t["value"])


def poll_until_done(http, url: str, timeout: float = 120):
    """GET `url` (JSON) about once a second, as the page does, until it is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(url, headers={"Accept": "application/json"})
        if response.json()["state"] != "pending":
            return response
        assert time.monotonic() < deadline, f"still pending after {timeout:.0f} s: {response.text}"
        time.sleep(1)


def test_best_model_journey(finished_study):
    platform, alice, study_id, dataset_dir = finished_study
    best = best_trial(alice, study_id)
    base = f"/studies/{study_id}/trials/{best['number']}"
    http = alice.http

    # the study page links the best model; the file downloads byte for byte
    assert f"{base}/download.pth" in http.get(f"/studies/{study_id}/").text
    download = http.get(f"{base}/download.pth")
    assert download.status_code == 200
    digest = hashlib.sha256(download.content).hexdigest()
    assert digest == download.headers["X-Content-SHA256"]
    assert any(hashlib.sha256(p.read_bytes()).hexdigest() == digest
               for p in (platform.var_dir / "media" / "trainer").glob("trials/*/model.pth"))  # fmt: skip
    assert re.search(
        r'filename="journey-simple_cnn-acc\d\.\d{3}-trial\d+\.pth"', download.headers["Content-Disposition"]
    )

    # the evaluation: queued for the worker, answered "pending" at once, polled until the worker has stored it
    json_headers = {"Accept": "application/json"}
    first = http.get(f"{base}/evaluation/", headers=json_headers)
    assert first.status_code == 202 and first.json()["state"] == "pending", first.text
    assert first.elapsed.total_seconds() < 2.0  # the unit test holds the web to 1 s; here the machine is busier
    evaluation = poll_until_done(http, f"{base}/evaluation/")
    assert evaluation.status_code == 200 and 'id="confusion-matrix"' in evaluation.json()["html"]
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    val_items = [item for item in manifest["items"] if item["split"] == "val"]
    counts = [int(n) for n in re.findall(r'<td class="total">(\d+)</td>', evaluation.json()["html"])]
    assert sum(counts) == len(val_items)
    page = http.get(f"{base}/model/")
    assert page.status_code == 200 and digest in page.text and 'id="confusion-matrix"' in page.text

    # ONNX export through the page's script: pending at once, then the worker's file, then its download
    token = http.cookies.get("csrftoken")
    post_headers = {"Referer": platform.url, "X-CSRFToken": token, **json_headers}
    exported = http.post(f"{base}/export/onnx", headers=post_headers)
    assert exported.status_code == 202 and exported.json()["state"] == "pending", exported.text
    exported = poll_until_done(http, f"{base}/export/onnx")
    assert exported.status_code == 200, exported.text
    onnx = http.get(exported.json()["download_url"])
    assert onnx.status_code == 200 and onnx.headers["X-Content-SHA256"] == exported.json()["sha256"]
    assert exported.json()["sha256"] in http.get(f"{base}/model/").text

    # try it through the platform's trainer
    files = [("files", (Path(item["path"]).name, (dataset_dir / item["path"]).read_bytes(), "image/png"))
             for item in val_items[:3]]  # fmt: skip
    answer = http.post(f"{base}/predict", files=files, data={"csrfmiddlewaretoken": token},
                       headers={"Referer": platform.url, "X-CSRFToken": token}, timeout=120)  # fmt: skip
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 3 and all(r["error"] is None and len(r["predictions"]) == 3 for r in results)

    # another user sees none of it
    mallory = Session(platform, "mallory")
    for path in (
        f"{base}/model/",
        f"{base}/download.pth",
        f"{base}/download.onnx",
        f"{base}/evaluation/",
        f"{base}/export/onnx",
    ):
        assert mallory.http.get(path).status_code == 404, path
