"""The web side of object storage: ingestion puts the tar, trial files are read through, deletes follow."""

from __future__ import annotations

import hashlib
import random

import pytest
from django.urls import reverse

from platform_web.datasets import services as dataset_services
from platform_web.datasets.models import Dataset
from platform_web.studies import services as study_services
from platform_web.studies.models import Trial
from platform_web.trained_models import files
from tests.datasets.builders import distinct_image, encoded, write_zip
from tests.trainer_files.conftest import object_names
from trainer_api.dataset_archive import extract_dataset_tar
from trainer_api.file_transfer import OBJECT_SHA256_KEY, dataset_object, trial_object
from trainer_api.object_store import ObjectStore
from worker.ingest import job

pytestmark = pytest.mark.django_db


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def no_trainer(settings):
    """Nothing answers at the training service (a deleted dataset's cache clearing just logs)."""
    settings.TRAINER_URL = "http://127.0.0.1:9"
    settings.INGEST_PROCESSES = 1


def ingest(user, tmp_path) -> Dataset:
    rng = random.Random(1)
    entries = {f"{name}/{i}.png": encoded(distinct_image(rng, 16)) for name in ("ants", "bees") for i in range(4)}
    dataset = Dataset.objects.create(owner=user, name="insects")
    dataset.upload_path.parent.mkdir(parents=True, exist_ok=True)
    write_zip(dataset.upload_path, entries)
    assert job.ingest_dataset(dataset_id=dataset.id) == Dataset.Status.READY
    dataset.refresh_from_db()
    return dataset


def put_trial_file(store, key: str, name: str, data: bytes, tmp_path) -> None:
    source = tmp_path / f"upload-{key}-{name}"
    source.write_bytes(data)
    store.put_file(trial_object(key, name), source, sha(data))


def test_ingestion_puts_the_dataset_tar_with_its_content_hash(bucket, user, tmp_path):
    dataset = ingest(user, tmp_path)
    assert not dataset.warnings
    name = dataset_object(str(dataset.id))
    head = bucket.client.head_object(Bucket=bucket.bucket, Key=name)
    assert head["Metadata"] == {OBJECT_SHA256_KEY: dataset.content_hash}
    stream, recorded = bucket.open(name)
    with stream:
        assert extract_dataset_tar(stream, tmp_path / "trainer-copy", recorded) == dataset.content_hash
    assert sorted(p.name for p in (tmp_path / "trainer-copy" / "files").rglob("*.png")) == sorted(
        p.name for p in (dataset.directory / "files").rglob("*.png")
    )
    assert list(tmp_path.glob("upload-tmp/*")) == []  # the temporary tar is gone


def test_without_a_bucket_ingestion_puts_nothing(settings, user, tmp_path):
    assert settings.OBJECT_STORAGE_BUCKET == ""
    dataset = ingest(user, tmp_path)
    assert dataset.status == Dataset.Status.READY and not dataset.warnings


def test_a_failed_upload_leaves_the_dataset_ready_with_a_warning_on_its_page(bucket, settings, alice_client, user,
                                                                             tmp_path):  # fmt: skip
    settings.OBJECT_STORAGE_BUCKET = "no-such-bucket"
    dataset = ingest(user, tmp_path)
    assert dataset.status == Dataset.Status.READY
    assert (dataset.directory / "manifest.json").is_file()
    warning = dataset.warnings[0]
    assert warning["path"] == "" and "no-such-bucket" in warning["message"]
    page = alice_client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert "could not be copied to the object storage bucket" in page


def test_a_model_missing_on_disk_is_downloaded_from_the_bucket(bucket, alice_client, trial, settings, tmp_path):
    data = b"weights of a remote trainer"
    Trial.objects.filter(pk=trial.pk).update(model_sha256=sha(data))
    put_trial_file(bucket, trial.trainer_key, "model.pth", data, tmp_path)
    url = reverse("trained_models:download", kwargs={"study_id": trial.study_id, "number": 0, "kind": "pth"})
    response = alice_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert (settings.TRAINER_DATA_DIR / "trials" / trial.trainer_key / "model.pth").read_bytes() == data


def test_a_trial_file_absent_or_damaged_in_the_bucket_stays_missing(bucket, trial, settings, tmp_path):
    trial.refresh_from_db()
    with pytest.raises(files.ModelUnavailable):
        files.model_path(trial)
    source = tmp_path / "damaged"
    source.write_bytes(b"cut")
    bucket.put_file(trial_object(trial.trainer_key, "model.pth"), source, sha(b"the whole file"))
    with pytest.raises(files.ModelUnavailable):
        files.model_path(trial)
    assert not (settings.TRAINER_DATA_DIR / "trials" / trial.trainer_key).exists() or not any(
        (settings.TRAINER_DATA_DIR / "trials" / trial.trainer_key).iterdir()
    )


def test_only_trial_files_that_travel_are_read_through(bucket, settings, tmp_path):
    put_trial_file(bucket, "1-0", "model.pth", b"m", tmp_path)
    bucket.client.put_object(Bucket=bucket.bucket, Key="trials/1-0/model.onnx", Body=b"o")
    trials = settings.TRAINER_DATA_DIR / "trials"
    assert files.data_path("trials/1-0/model.onnx") == (trials / "1-0" / "model.onnx").resolve()
    assert not (trials / "1-0" / "model.onnx").exists()
    assert files.data_path("trials/1-0/model.pth").read_bytes() == b"m"


def test_deleting_a_dataset_deletes_its_objects_and_its_studies_trial_objects(
    bucket, trial, django_capture_on_commit_callbacks, tmp_path
):
    dataset = trial.study.dataset
    source = tmp_path / "tar"
    source.write_bytes(b"tar")
    bucket.put_file(dataset_object(str(dataset.id)), source, dataset.content_hash)
    put_trial_file(bucket, trial.trainer_key, "model.pth", b"m", tmp_path)
    put_trial_file(bucket, trial.trainer_key, "state.json", b"{}", tmp_path)
    put_trial_file(bucket, f"{trial.trainer_key}0", "model.pth", b"another trial's", tmp_path)
    bucket.put_file(dataset_object("00000000-0000-0000-0000-000000000000"), source, "another dataset")
    with django_capture_on_commit_callbacks(execute=True):
        dataset_services.delete_dataset(dataset=dataset)
    assert object_names(bucket) == [
        dataset_object("00000000-0000-0000-0000-000000000000"),
        trial_object(f"{trial.trainer_key}0", "model.pth"),
    ]


def test_deleting_a_study_deletes_its_trial_objects(bucket, trial, tmp_path):
    put_trial_file(bucket, trial.trainer_key, "checkpoint.pt", b"c", tmp_path)
    put_trial_file(bucket, "other-0", "checkpoint.pt", b"c", tmp_path)
    study_services.delete_study(study=trial.study)
    assert object_names(bucket) == [trial_object("other-0", "checkpoint.pt")]


def test_a_dataset_deleted_while_its_tar_went_up_leaves_no_object(bucket, user, tmp_path, monkeypatch):
    real_put = ObjectStore.put_file

    def put_then_delete(self, name, path, sha256):
        real_put(self, name, path, sha256)
        Dataset.objects.all().delete()  # the user deletes it meanwhile (its on-commit delete found nothing yet)

    monkeypatch.setattr(ObjectStore, "put_file", put_then_delete)
    rng = random.Random(2)
    dataset = Dataset.objects.create(owner=user, name="gone")
    dataset.upload_path.parent.mkdir(parents=True, exist_ok=True)
    write_zip(dataset.upload_path, {f"{c}/{i}.png": encoded(distinct_image(rng, 16)) for c in "ab" for i in range(3)})
    assert job.ingest_dataset(dataset_id=dataset.id) == "deleted"
    assert object_names(bucket) == []
