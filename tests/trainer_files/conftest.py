"""Fixtures of the trainer-files tests: a ready dataset, a trial the platform knows, a mocked bucket."""

from __future__ import annotations

import pytest
from moto import mock_aws

from platform_web.studies.models import Study, Trial
from tests.studies.factories import make_ready_dataset
from trainer_api.object_store import ObjectStore

TOKEN = "files-test-token"
BUCKET = "tune-files-test"


@pytest.fixture(autouse=True)
def trainer_token(settings):
    settings.TRAINER_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def auth():
    """The header a trainer sends."""
    return {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture
def dataset(user):
    """A ready dataset of 2 classes x 4 tiny images (and a thumbnail, which is never sent)."""
    ready = make_ready_dataset(user, classes=2, per_class=4, size=8)
    (ready.directory / "thumbs").mkdir()
    (ready.directory / "thumbs" / "t.jpg").write_bytes(b"not sent")
    return ready


@pytest.fixture
def study(user, dataset):
    return Study.objects.create(owner=user, dataset=dataset, name="Files", optuna_name=f"files-{dataset.id}",
                                state=Study.State.COMPLETED)  # fmt: skip


@pytest.fixture
def trial(study):
    """Trial 0 of the study, known to the platform under its trainer key `<study>-0`."""
    key = f"{study.pk}-0"
    return Trial.objects.create(study=study, number=0, state=Trial.State.COMPLETED, trainer_key=key, value=0.9,
                                model_path=f"trials/{key}/model.pth")  # fmt: skip


@pytest.fixture
def bucket(settings, monkeypatch):
    """Object storage on, against moto's in-process S3: the ObjectStore the platform will use."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings.OBJECT_STORAGE_BUCKET, settings.OBJECT_STORAGE_URL = BUCKET, ""
    with mock_aws():
        store = ObjectStore.from_environment({"OBJECT_STORAGE_BUCKET": BUCKET, "AWS_DEFAULT_REGION": "us-east-1"})
        store.client.create_bucket(Bucket=BUCKET)
        yield store


def object_names(store: ObjectStore) -> list[str]:
    return sorted(item["Key"] for item in store.client.list_objects_v2(Bucket=store.bucket).get("Contents", []))
