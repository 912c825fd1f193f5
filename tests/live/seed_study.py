"""Run inside a web server's environment: seed a study with many trials, or play a worker's events.

    python -m tests.live.seed_study '{"action": "study", "trials": 1000}'
    python -m tests.live.seed_study '{"action": "play", "study": "<id>", "number": 1000, "epochs": 6}'

`study` bulk-creates a running study (rows only, as if its trials had run) and a
session for its owner; `play` runs one more trial through the studies app's
records functions, exactly the writes and events a Celery worker makes.
Each prints one JSON line.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
import uuid
from datetime import timedelta

import django

ARCHITECTURES = ["simple_cnn", "lite_cnn", "cifar_net", "resnet18"]
STATES = ["completed"] * 6 + ["pruned"] * 3 + ["diverged"]


def trial_params(rng: random.Random) -> dict:
    optimizer = rng.choice(["adam", "sgd", "adamw"])
    low, high = (1e-3, 1e-1) if optimizer == "sgd" else (1e-4, 3e-3)
    return {
        "architecture": rng.choice(ARCHITECTURES),
        "input_size": rng.choice([24, 32]),
        "batch_size": rng.choice([32, 64]),
        "epochs": rng.randint(4, 8),
        "optimizer": optimizer,
        "learning_rate": round(math.exp(rng.uniform(math.log(low), math.log(high))), 6),
        "weight_decay": round(10 ** rng.uniform(-6, -3), 8),
        "augment": rng.random() < 0.5,
        "augment_strength": round(rng.uniform(0.2, 0.8), 3),
        "label_smoothing": 0.0,
    }


def curve(rng: random.Random, params: dict, epochs: int) -> list[tuple[float, float]]:
    """Plausible (val_accuracy, val_loss) per epoch: the learning rate near 1e-3 learns best."""
    quality = max(0.05, 1 - abs(math.log10(params["learning_rate"]) + 3) / 2.5)
    top = 0.45 + 0.5 * quality + rng.uniform(-0.05, 0.03)
    return [
        (
            min(0.99, top * (1 - math.exp(-0.6 * e)) + rng.uniform(-0.02, 0.02)),
            1.6 * math.exp(-0.35 * e * quality) + 0.1,
        )
        for e in range(1, epochs + 1)
    ]


def seed_study(request: dict) -> dict:
    # Imported here, not at the top: Django's models load only after django.setup() has run.
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from platform_web.datasets.models import Dataset
    from platform_web.studies.models import EpochMetric, Study, Trial

    rng = random.Random(request.get("seed", 0))
    user, _ = get_user_model().objects.get_or_create(username=request.get("username", "alice"))
    dataset = Dataset.objects.create(owner=user, name="shapes", status=Dataset.Status.READY, classes=["a", "b", "c"])
    count = request.get("trials", 1000)
    now = timezone.now()
    study = Study.objects.create(
        owner=user, dataset=dataset, name=request.get("name", "Big search"), state=Study.State.RUNNING,
        n_trials=count + request.get("more", 20), parallel_trials=2, optuna_name=f"seed-{uuid.uuid4().hex}",
        space={"epochs": [4, 8]}, started_at=now - timedelta(hours=2), run_started_at=now - timedelta(hours=2),
    )  # fmt: skip
    trials, metrics, curves = [], [], []
    for number in range(count):
        params = trial_params(rng)
        state = rng.choice(STATES)
        points = curve(rng, params, params["epochs"] if state == "completed" else rng.randint(1, 3))
        if request.get("outliers") and number < 2:
            # One trial diverged (loss 3,500), one pruned SGD trial whose loss ran to 2e28.
            state = ("diverged", "pruned")[number]
            points = [(0.3, 1.9), (0.1, (3500.0, 2e28)[number])]
        value = max(a for a, _ in points)
        curves.append(points)
        start = now - timedelta(seconds=7200 - number * 6)
        trials.append(Trial(study=study, number=number, state=state, params=params, value=value,
                            best_epoch=1 + max(range(len(points)), key=lambda i: points[i][0]),
                            epochs_planned=params["epochs"], epochs_done=len(points), train_seconds=len(points) * 0.7,
                            finished_at=start + timedelta(seconds=len(points) * 0.7 + 1),
                            model_path=f"trials/seed-{number}/model.pth" if state == "completed" else ""))  # fmt: skip
    Trial.objects.bulk_create(trials, batch_size=500)
    for trial in trials:  # started_at is auto_now_add: set the real start afterwards
        trial.started_at = trial.finished_at - timedelta(seconds=trial.train_seconds + 1)
    Trial.objects.bulk_update(trials, ["started_at"], batch_size=500)
    by_number = {t.number: t.pk for t in Trial.objects.filter(study=study)}
    for number, points in enumerate(curves):
        metrics += [EpochMetric(trial_id=by_number[number], epoch=e, val_accuracy=a, val_loss=loss, seconds=0.7)
                    for e, (a, loss) in enumerate(points, start=1)]  # fmt: skip
    EpochMetric.objects.bulk_create(metrics, batch_size=2000)
    from platform_web.studies import records  # after django.setup(), as above

    completed = Trial.objects.filter(study=study, state="completed").order_by("-value").first()
    Study.objects.filter(pk=study.pk).update(best_trial=completed)
    records.record_progress(study.pk)
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})  # fmt: skip
    session.create()
    return {"study": str(study.pk), "session": session.session_key, "epoch_points": len(metrics)}


def play_trial(request: dict) -> dict:
    """One trial as the worker records it: started, an epoch at a time, then completed."""
    from platform_web.studies import records  # after django.setup(), as in seed_study

    rng = random.Random(request.get("seed", 1))
    params = trial_params(rng)
    params["learning_rate"] = 1e-3
    epochs = request.get("epochs", 6)
    trial = records.trial_started(
        study_id=request["study"], number=request["number"], optuna_trial_id=request["number"], params=params,
        optuna_params=params, config={**params, "epochs": epochs}, slot=0, key=f"play-{uuid.uuid4().hex}", retry_of=None,
    )  # fmt: skip
    for epoch, (accuracy, loss) in enumerate(curve(rng, params, epochs), start=1):
        time.sleep(request.get("pause", 0.5))
        records.epoch_recorded(trial, {"epoch": epoch, "epochs": epochs, "val_accuracy": accuracy, "val_loss": loss,
                                       "train_loss": loss, "train_accuracy": accuracy, "seconds": 0.7})  # fmt: skip
    if request.get("finish", True):
        records.trial_finished(trial, "completed", value=0.999, result={"model_path": "trials/x/model.pth"})
    return {"number": trial.number}


if __name__ == "__main__":
    django.setup()
    order = json.loads(sys.argv[1])
    answer = seed_study(order) if order["action"] == "study" else play_trial(order)
    print(json.dumps(answer))
