"""Studies end to end on the real platform (web + Celery worker + training service, SQLite).

One platform serves the whole module. The tiny datasets make a trial take a
second or a few, so the fault tests can interrupt one in the middle.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
import zipfile
from pathlib import Path

import optuna
import pytest
import redis
import torch

from tests.platform_processes import start_platform, wait_for
from tests.studies.platform_client import PASSWORD, Session, elapsed, kill_tree, seed, trainer_health
from tests.trainer_api.dataset_builder import make_dataset_dir
from trainer_api.engine import load_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ENV = {
    # Short fuses so the fault tests finish in seconds rather than minutes.
    "STUDY_HEARTBEAT_SECONDS": "5",
    "STUDY_SLOT_LEASE_SECONDS": "4",
    "STUDY_TRAINER_RECONNECT_SECONDS": "4",
    "STUDY_TRAINER_WAIT_SECONDS": "120",
}
COUNTED = ("completed", "pruned", "diverged")
# Four classes of 32 px images, batch 4, sixteen epochs: a trial lasts several seconds however fast
# the engine gets, and a test polling twice a second sees it mid-way.
SLOW_TRIAL = {"input_sizes": [32], "batch_sizes": [4], "epochs_min": 16, "epochs_max": 16}


def mid_trial(trial: dict) -> bool:
    """Running, with at least one epoch done and most still to go."""
    return trial["state"] == "running" and 1 <= trial["epochs_done"] <= 8


@pytest.fixture(scope="module")
def platform(tmp_path_factory, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    running = start_platform(tmp_path_factory.mktemp("studies"), redis_url, extra_env=ENV)
    try:
        seed(running, action="user", username="alice", password=PASSWORD)
        yield running
    finally:
        running.supervisor.stop_all()


@pytest.fixture(scope="module")
def alice(platform):
    return Session(platform, "alice")


@pytest.fixture(scope="module")
def ten_classes(platform):
    return seed(platform, action="dataset", username="alice", options={"classes": 10, "per_class": 12, "size": 16})


@pytest.fixture(scope="module")
def slow_dataset(platform):
    return seed(platform, action="dataset", username="alice", options={"classes": 4, "per_class": 100, "size": 32})


def start(platform, dataset, **request) -> str:
    return seed(platform, action="study", username="alice", dataset=dataset["id"], **request)["id"]


def database(platform) -> sqlite3.Connection:
    return sqlite3.connect(platform.var_dir / "platform.sqlite3", timeout=30)


def storage_url(platform) -> str:
    return f"sqlite:///{platform.var_dir / 'platform.sqlite3'}"


def trainer_keys(platform, study_id: str) -> dict[int, str]:
    """{trial number: key on the training service} (not in the API: users never need it)."""
    with database(platform) as db:
        rows = db.execute(
            "select t.number, t.trainer_key from studies_trial t join studies_study s on s.id = t.study_id "
            "where s.optuna_name = ?", (f"study-{study_id}",),
        ).fetchall()  # fmt: skip
    return dict(rows)


def assert_clean_end(platform, alice, study_id: str, n_trials: int) -> list[dict]:
    """Budget spent, nothing left running, no number twice, Optuna agrees with the records."""
    trials = alice.trials(study_id)
    numbers = [t["number"] for t in trials]
    assert len(numbers) == len(set(numbers))
    assert not [t for t in trials if t["state"] == "running"]
    assert len([t for t in trials if t["state"] in COUNTED]) == n_trials
    optuna_study = optuna.load_study(study_name=f"study-{study_id}", storage=storage_url(platform))
    assert not [t for t in optuna_study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert {t.number for t in optuna_study.trials if t.state != optuna.trial.TrialState.WAITING} == set(numbers)
    return trials


def test_twelve_trials_with_the_median_pruner(platform, alice, ten_classes):
    space = {"optimizers": ["adam", "sgd"], "learning_rate_min": 1e-5, "learning_rate_max": 1e-2,
             "learning_rate_sgd_min": 1e-4, "learning_rate_sgd_max": 1e-1, "epochs_min": 2, "epochs_max": 3}  # fmt: skip
    study_id = start(platform, ten_classes, n_trials=12, pruner="median", space=space)
    final = alice.wait_state(study_id, ("completed", "failed", "cancelled"), 240)
    assert final["state"] == "completed", final["error"]
    trials = assert_clean_end(platform, alice, study_id, 12)
    assert len(trials) == 12
    cut_short = [t for t in trials if t["state"] == "pruned" and t["epochs_done"] < t["epochs_planned"]]
    assert cut_short, [(t["state"], t["epochs_done"], t["epochs_planned"]) for t in trials]
    assert trials[0]["params"]["learning_rate"] == 3e-3  # the known-good start (simple_cnn only: no portfolio)
    best = final["best_trial"]
    assert (platform.var_dir / "media" / "trainer" / best["model_path"]).is_file()
    assert best["value"] == max(t["value"] for t in trials if t["state"] == "completed")
    assert best["value"] > 0.1  # better than chance on 10 classes
    assert final["progress"]["trials_finished"] == 12 and final["progress"]["eta_seconds"] == 0
    # Stock Optuna reads the same study from the same database.
    loaded = optuna.load_study(study_name=f"study-{study_id}", storage=storage_url(platform))
    assert sorted(t.number for t in loaded.trials) == sorted(t["number"] for t in trials)
    assert loaded.best_value == best["value"] and loaded.best_trial.number == best["number"]
    by_number = {t.number: t for t in loaded.trials}
    for trial in trials:
        expected = {"completed": "COMPLETE", "pruned": "PRUNED", "diverged": "PRUNED"}[trial["state"]]
        assert by_number[trial["number"]].state.name == expected
    # Every epoch reached the live page's event log, numbered without gaps.
    with database(platform) as db:
        (study_pk,) = db.execute(
            "select id from studies_study where optuna_name = ?", (f"study-{study_id}",)
        ).fetchone()
        seqs = [
            s for (s,) in db.execute("select seq from studies_studyevent where study_id = ? order by seq", (study_pk,))
        ]
        epoch_events = db.execute("select count(*) from studies_studyevent where study_id = ? and type = 'trial.epoch'",
                                  (study_pk,)).fetchone()[0]  # fmt: skip
    assert seqs == list(range(1, len(seqs) + 1))
    assert epoch_events == sum(t["epochs_done"] for t in trials)


def test_a_time_budget_runs_the_portfolio_first_and_is_spent_to_its_end(platform, alice, ten_classes):
    budget = 60  # the portfolio takes about 80 %: what is left must hold a sampled trial on a loaded machine
    space = {"architectures": ["small_resnet", "bn_cnn"], "width_min": 8, "width_max": 16, "optimizers": ["adamw"],
             "epochs_min": 2, "epochs_max": 400, "timeout_minutes": 1}  # fmt: skip
    started = time.monotonic()
    study_id = start(platform, ten_classes, n_trials=30, timeout_seconds=budget, space=space)
    final = alice.wait_state(study_id, ("completed", "failed"), budget + 120)
    wall = elapsed(started)
    assert final["state"] == "completed", final["error"]
    trials = alice.trials(study_id)
    loaded = optuna.load_study(study_name=f"study-{study_id}", storage=storage_url(platform))
    by_number = {t.number: t for t in loaded.trials}
    portfolio = [by_number[t["number"]].user_attrs.get("portfolio") for t in trials[:2]]
    assert portfolio == ["Quick start (bn_cnn)", "ResNet-9, long one-cycle"]  # bn_cnn is the faster at 16 px
    assert [t["params"]["architecture"] for t in trials[:2]] == ["bn_cnn", "small_resnet"]
    assert "epochs" not in by_number[trials[0]["number"]].params  # the resource, not a searched parameter
    quick, long = trials[:2]
    assert quick["epochs_done"] == quick["epochs_planned"] == 15  # the quick start's cap: done in seconds here
    # The long run's epochs were sized to 70 % of the budget.
    assert long["epochs_done"] == long["epochs_planned"] > 15, long
    assert 0.4 * 0.7 * budget <= long["train_seconds"] <= 1.2 * 0.7 * budget, long
    # The budget is spent, not left idle, and not overrun by more than a trial's start-up.
    assert final["progress"]["elapsed_seconds"] >= 0.8 * budget, final["progress"]
    assert wall <= budget + 30
    counted = [t for t in trials if t["state"] in COUNTED]
    summary = [(t["number"], t["state"], t["epochs_done"], t["train_seconds"], t["error"]) for t in trials]
    assert len(counted) >= 3, (final["progress"], summary)  # the portfolio and at least one sampled trial
    assert final["best_trial"]["value"] == max(t["value"] for t in trials if t["state"] == "completed")


def test_a_learning_rate_forced_high_diverges_after_its_first_epoch(platform, alice, ten_classes):
    space = {"optimizers": ["sgd"], "learning_rate_sgd_min": 10.0, "learning_rate_sgd_max": 10.0,
             "epochs_min": 3, "epochs_max": 3}  # fmt: skip
    study_id = start(platform, ten_classes, n_trials=1, space=space)
    final = alice.wait_state(study_id, ("completed", "failed"), 120)
    (trial,) = alice.trials(study_id)
    assert trial["state"] == "diverged" and trial["epochs_done"] == 1, trial
    assert trial["error"]
    assert final["state"] == "failed" and "No trial completed" in final["error"]


def test_cancel_stops_the_running_trial_within_seconds_and_resume_finishes(platform, alice, slow_dataset):
    study_id = start(platform, slow_dataset, n_trials=2, pruner="none", space=SLOW_TRIAL)
    alice.wait_trial(study_id, mid_trial, 120, "a trial mid-way")
    clicked = time.monotonic()
    assert alice.post(f"/studies/{study_id}/cancel/").status_code == 302
    alice.wait_state(study_id, ("cancelled",), 5)
    assert elapsed(clicked) <= 5
    assert trainer_health(platform)["slots_busy"] == 0
    trials = alice.trials(study_id)
    assert not [t for t in trials if t["state"] == "running"]
    interrupted = [t for t in trials if t["state"] == "cancelled"]
    assert len(interrupted) == 1 and interrupted[0]["epochs_done"] < 16, trials
    before = max(t["number"] for t in trials)

    assert alice.post(f"/studies/{study_id}/resume/").status_code == 302
    final = alice.wait_state(study_id, ("completed", "failed"), 180)
    assert final["state"] == "completed", final["error"]
    trials = assert_clean_end(platform, alice, study_id, 2)
    assert [t for t in trials if t["number"] > before and t["state"] in COUNTED]


def test_worker_killed_mid_trial_the_study_still_finishes(platform, alice, slow_dataset):
    study_id = start(platform, slow_dataset, n_trials=2, pruner="none", space=SLOW_TRIAL)
    victim = alice.wait_trial(study_id, mid_trial, 120,
                              "a trial mid-way")  # fmt: skip
    kill_tree(platform.child("worker").process.pid)
    platform.restart("worker")
    final = alice.wait_state(study_id, ("completed", "failed"), 240)
    assert final["state"] == "completed", final["error"]
    trials = assert_clean_end(platform, alice, study_id, 2)
    lost = next(t for t in trials if t["number"] == victim["number"])
    assert lost["state"] == "failed" and "worker running this trial stopped" in lost["error"], lost
    retries = [t for t in trials if t["retry_of"] == victim["number"]]
    assert len(retries) == 1 and retries[0]["state"] in COUNTED
    assert f"retried as trial #{retries[0]['number']}" in lost["error"]
    # The retry followed the training the dead worker had started instead of starting over.
    keys = trainer_keys(platform, study_id)
    assert keys[retries[0]["number"]] == keys[victim["number"]]
    assert retries[0]["epochs_done"] == 16


def test_trainer_stopped_mid_trial_fails_that_trial_and_the_study_goes_on(platform, alice, slow_dataset):
    study_id = start(platform, slow_dataset, n_trials=2, pruner="none", space=SLOW_TRIAL)
    victim = alice.wait_trial(study_id, mid_trial, 120,
                              "a trial mid-way")  # fmt: skip
    os.killpg(platform.child("trainer").process.pid, signal.SIGKILL)
    failed = alice.wait_trial(study_id, lambda t: t["number"] == victim["number"] and t["state"] == "failed", 60,
                              "the interrupted trial to fail")  # fmt: skip
    assert "stopped answering" in failed["error"], failed["error"]
    platform.restart("trainer")
    final = alice.wait_state(study_id, ("completed", "failed"), 240)
    assert final["state"] == "completed", final["error"]
    trials = assert_clean_end(platform, alice, study_id, 2)
    retry = next(t for t in trials if t["retry_of"] == victim["number"])
    assert retry["state"] in COUNTED
    # The restarted service resumed the interrupted trial from its checkpoint under the same key.
    keys = trainer_keys(platform, study_id)
    assert keys[retry["number"]] == keys[victim["number"]]
    wait_for(lambda: trainer_health(platform)["slots_busy"] == 0, 30, message="the trainer to be idle")


def test_run_study_from_a_fresh_shell(platform, tmp_path):
    images = make_dataset_dir(tmp_path / "images", classes=3, per_class=10, size=16, with_split=False)
    archive = tmp_path / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted((images / "files").rglob("*.png")):
            zf.write(file, file.relative_to(images / "files").as_posix())
    done = platform.manage("run_study", "--zip", str(archive), "--trials", "3", "--arch", "simple_cnn",
                           "--user", "alice", timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "Dataset ready: 30 images, 3 classes" in out
    assert "ETA" in out and "3/3 trials" in out
    accuracy = float(re.search(r"Best validation accuracy: ([0-9.]+)%", out).group(1)) / 100
    assert accuracy > 1 / 3
    pth = Path(re.search(r"Model \(.pth\): (\S+)", out).group(1))
    model, metadata = load_model(pth)  # the engine's documented loading snippet
    assert metadata["class_names"] == ["class_00", "class_01", "class_02"]
    assert model(torch.zeros(1, 3, metadata["input_size"], metadata["input_size"])).shape == (1, 3)


def test_trainer_errors_fail_trials_with_its_message_and_rerun_runs_them_again(platform, alice, ten_classes):
    study_id = start(platform, ten_classes, n_trials=2, space={"architectures": ["no_such_net"]})
    final = alice.wait_state(study_id, ("completed", "failed"), 60)
    assert final["state"] == "failed" and "failed trials in a row" in final["error"]
    trials = alice.trials(study_id)
    assert len(trials) == 4 and {t["state"] for t in trials} == {"failed"}
    assert all("refused this trial" in t["error"] and "no_such_net" in t["error"] for t in trials)

    assert alice.post(f"/studies/{study_id}/rerun-failed/").status_code == 302
    final = alice.wait_state(study_id, ("completed", "failed"), 60)
    reruns = [t for t in alice.trials(study_id) if t["retry_of"] is not None]
    assert sorted(t["retry_of"] for t in reruns) == sorted(t["number"] for t in trials)
    assert final["n_trials"] == 4 and final["state"] == "failed"


def test_an_upload_is_ingested_while_studies_hold_every_training_worker(platform, alice, slow_dataset, tmp_path):
    # Two studies hold both processes of the training worker (one trains, one waits for the trainer).
    studies = [start(platform, slow_dataset, n_trials=20, pruner="none", space=SLOW_TRIAL) for _ in range(2)]
    alice.wait_trial(studies[0], mid_trial, 120, "the first study mid-trial")
    wait_for(lambda: alice.study(studies[1])["state"] == "running", 60, message="the second study's slot to run")

    images = make_dataset_dir(tmp_path / "images", classes=2, per_class=6, size=16, with_split=False)
    archive = tmp_path / "late.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted((images / "files").rglob("*.png")):
            zf.write(file, file.relative_to(images / "files").as_posix())
    dataset = seed(platform, action="upload", username="alice", zip=str(archive))
    status = wait_for(lambda: (s := alice.http.get(f"/datasets/{dataset['id']}/status.json").json())["status"]
                      in ("ready", "failed") and s, 60, message="the upload to be ingested")  # fmt: skip
    assert status["status"] == "ready", status
    assert all(alice.study(study_id)["state"] == "running" for study_id in studies)

    for study_id in studies:
        assert alice.post(f"/studies/{study_id}/cancel/").status_code == 302
    for study_id in studies:
        alice.wait_state(study_id, ("cancelled",), 30)


def test_the_sample_dataset_reaches_90_percent_in_a_six_trial_study(platform, tmp_path):
    # The sample a new user tries first, with the default form, six trials and 2.5 minutes, from the command line.
    archive = tmp_path / "sample.zip"
    made = platform.manage("make_sample_dataset", "--out", str(archive), timeout=120)
    assert made.returncode == 0, made.stderr[-2000:]
    done = platform.manage("run_study", "--zip", str(archive), "--trials", "6", "--timeout", "150", "--user", "alice",
                           timeout=400)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Dataset ready: 720 images, 6 classes" in done.stdout
    best = re.search(r"Best validation accuracy: ([0-9.]+)%.*", done.stdout)
    print(best.group(0))  # the figure, for the record (pytest -s)
    assert float(best.group(1)) / 100 >= 0.9, done.stdout[-3000:]
