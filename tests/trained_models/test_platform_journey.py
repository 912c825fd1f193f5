"""The whole platform (web + Celery worker + trainer): a study's best model downloaded, evaluated, exported, tried.

The rows come from a real study run by the worker through the training service,
so this checks that the paths and metadata the studies record are the ones the
model pages serve, and that try-it goes through the platform's own trainer.
"""

from __future__ import annotations

import hashlib
import json
import re
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

    # model page, evaluation (computed in the web process from the dataset on disk)
    page = http.get(f"{base}/model/")
    assert page.status_code == 200 and digest in page.text
    evaluation = http.get(f"{base}/evaluation/", timeout=120)
    assert evaluation.status_code == 200 and 'id="confusion-matrix"' in evaluation.text
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    val_items = [item for item in manifest["items"] if item["split"] == "val"]
    counts = [int(n) for n in re.findall(r'<td class="total">(\d+)</td>', evaluation.text)]
    assert sum(counts) == len(val_items)

    # ONNX export through the page, then its download
    token = http.cookies.get("csrftoken")
    exported = http.post(f"{base}/export/onnx", data={"csrfmiddlewaretoken": token},
                         headers={"Referer": platform.url}, timeout=120)  # fmt: skip
    assert exported.status_code == 302
    onnx = http.get(f"{base}/download.onnx")
    assert onnx.status_code == 200 and onnx.headers["X-Content-SHA256"] in http.get(f"{base}/model/").text

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
    for path in (f"{base}/model/", f"{base}/download.pth", f"{base}/download.onnx", f"{base}/evaluation/"):
        assert mallory.http.get(path).status_code == 404, path
