"""Small builders for the live-page suites: users' session cookies, datasets, studies with trials."""

from __future__ import annotations

import uuid

from django.test import Client

from platform_web.datasets.models import Dataset
from platform_web.studies.models import EpochMetric, Study, Trial


def session_cookie(user) -> bytes:
    """A `Cookie:` header value that logs `user` in, as a browser would send it."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def make_dataset(owner, **fields) -> Dataset:
    defaults = {"name": "shapes", "status": Dataset.Status.READY, "classes": ["circle", "square"], "image_count": 40}
    return Dataset.objects.create(owner=owner, **{**defaults, **fields})


def make_study(owner, *, trials: int = 0, epochs: int = 3) -> Study:
    """A running study with `trials` finished trials, each with `epochs` epoch metrics."""
    study = Study.objects.create(
        owner=owner,
        dataset=make_dataset(owner),
        name="tiny search",
        state=Study.State.RUNNING,
        n_trials=10,
        optuna_name=f"test-{uuid.uuid4().hex}",
        space={"learning_rate": {"low": 1e-4, "high": 1e-1, "log": True}},
    )
    for number in range(trials):
        trial = Trial.objects.create(
            study=study,
            number=number,
            state=Trial.State.COMPLETED,
            params={"learning_rate": 10 ** (-4 + number * 0.4), "optimizer": ["adam", "sgd"][number % 2]},
            value=0.5 + 0.04 * number,
            epochs_planned=epochs,
            epochs_done=epochs,
        )
        for epoch in range(1, epochs + 1):
            EpochMetric.objects.create(trial=trial, epoch=epoch, val_accuracy=0.4 + 0.05 * epoch, val_loss=1.0 / epoch)
    return study
