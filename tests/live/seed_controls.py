"""Run inside a web server's environment for the study-controls browser test; each prints one JSON line.

python -m tests.live.seed_controls '{"action": "study"}'          # a running study, one trial per ending
python -m tests.live.seed_controls '{"action": "inspect", "study": "<id>"}'
python -m tests.live.seed_controls '{"action": "rerun", "study": "<id>"}'   # a worker runs the queued re-run
python -m tests.live.seed_controls '{"action": "end", "study": "<id>"}'     # the last slot completes the study
"""

from __future__ import annotations

import json
import sys
import uuid

import django

# The trials of the seeded study, by number: one of every ending.
ENDINGS = ["completed", "diverged", "failed", "cancelled", "skipped", "pruned"]
LEARNING_RATE = 0.03


def seed(request: dict) -> dict:
    # Imported here, not at the top: Django's models load only after django.setup() has run.
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from platform_web.datasets.models import Dataset
    from platform_web.studies import records
    from platform_web.studies.models import Study, Trial

    user, _ = get_user_model().objects.get_or_create(username=request.get("username", "alice"))
    dataset = Dataset.objects.create(owner=user, name="shapes", status=Dataset.Status.READY, classes=["a", "b"])
    study = Study.objects.create(owner=user, dataset=dataset, name=request.get("name", "Controls"), n_trials=20,
                                 state=Study.State.RUNNING, optuna_name=f"seed-{uuid.uuid4().hex}",
                                 space={"epochs": [2, 2]})  # fmt: skip
    for number, state in enumerate(ENDINGS):
        params = {"architecture": "simple_cnn", "input_size": 16, "batch_size": 16, "epochs": 2, "optimizer": "adam",
                  "augment": False, "learning_rate": LEARNING_RATE}  # fmt: skip
        Trial.objects.create(study=study, number=number, state=state, params=params, epochs_planned=2, epochs_done=2,
                             optuna_params={"epochs": 2, "learning_rate": LEARNING_RATE},
                             value=0.7 if state == "completed" else None,
                             error="The loss became NaN or infinite in epoch 2." if state == "diverged" else "")  # fmt: skip
    records.record_progress(study.pk)
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})  # fmt: skip
    session.create()
    return {"study": str(study.pk), "session": session.session_key}


def inspect(request: dict) -> dict:
    # After django.setup(), as in seed.
    from platform_web.studies.models import Study

    study = Study.objects.get(pk=request["study"])
    return {"state": study.state, "pending_reruns": study.pending_reruns}


def play_rerun(request: dict) -> dict:
    """The first queued re-run as a worker records it (its params, retry_of and note), started then completed."""
    # After django.setup(), as in seed.
    from platform_web.studies import records
    from platform_web.studies.models import Study, Trial

    study = Study.objects.get(pk=request["study"])
    entry = study.pending_reruns[0]
    Study.objects.filter(pk=study.pk).update(pending_reruns=study.pending_reruns[1:])
    number = Trial.objects.filter(study=study).count()
    original = Trial.objects.get(study=study, number=entry["number"])
    params = {**original.params, "learning_rate": entry["params"]["learning_rate"]}
    trial = records.trial_started(
        study_id=study.pk, number=number, optuna_trial_id=number, params=params, optuna_params=entry["params"],
        config=params, slot=0, key=f"play-{uuid.uuid4().hex}", retry_of=entry["number"],
    )  # fmt: skip
    Trial.objects.filter(pk=trial.pk).update(note=entry["note"])  # as worker/studies/objective.py does
    for epoch in (1, 2):
        records.epoch_recorded(trial, {"epoch": epoch, "epochs": 2, "val_accuracy": 0.5 + 0.1 * epoch,
                                       "val_loss": 1.0 / epoch, "train_loss": 1.0, "train_accuracy": 0.5})  # fmt: skip
    records.trial_finished(trial, "completed", value=0.7)
    return {"number": number}


def end(request: dict) -> dict:
    # After django.setup(), as in seed.
    from platform_web.studies import records
    from platform_web.studies.models import Study

    records.set_state(request["study"], Study.State.COMPLETED, only_from=(Study.State.RUNNING,))
    return {"state": "completed"}


ACTIONS = {"study": seed, "inspect": inspect, "rerun": play_rerun, "end": end}

if __name__ == "__main__":
    django.setup()
    order = json.loads(sys.argv[1])
    print(json.dumps(ACTIONS[order["action"]](order)))
