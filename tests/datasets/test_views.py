"""Dataset pages through the Django test client: upload, status, page, thumbnails, delete."""

import io
import os
from pathlib import Path

import optuna
import pytest
from django.urls import reverse

from platform_web.datasets import services
from platform_web.datasets.models import Dataset
from platform_web.studies.models import Study, Trial
from platform_web.studies.storage import get_storage, is_sqlite
from platform_web.studies.trainer_client import TrainerClient
from tests.datasets.builders import class_folders, dataset_zip, write_zip
from worker.ingest import job

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest", "HTTP_ACCEPT": "application/json"}


@pytest.fixture
def sent_tasks(monkeypatch):
    """Tasks sent to the broker (recorded instead of sent)."""
    sent = []
    monkeypatch.setattr("platform_web.celery.app.send_task", lambda name, **kw: sent.append((name, kw)))
    return sent


def zip_upload(tmp_path: Path, name: str = "flowers.zip") -> io.BufferedReader:
    return open(dataset_zip(tmp_path / name, per_class=3), "rb")


def temp_dir_files(settings) -> list[str]:
    return os.listdir(settings.FILE_UPLOAD_TEMP_DIR)


def test_pages_need_login(client, user):
    for url in (reverse("datasets:list"), reverse("datasets:upload")):
        response = client.get(url)
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_upload_page_has_the_drop_zone(alice_client):
    html = alice_client.get(reverse("datasets:upload")).content.decode()
    assert 'id="dropzone"' in html and 'type="file"' in html and "js/upload.js" in html and "2.1 GB" in html


def test_xhr_upload_streams_to_a_temp_file_moves_it_and_queues_ingestion(
    alice_client, user, tmp_path, settings, sent_tasks, monkeypatch, django_capture_on_commit_callbacks
):
    moves = []
    real_move = services.file_move_safe

    def spy_move(source, destination, **kwargs):
        moves.append((source, os.stat(source).st_ino))
        real_move(source, destination, **kwargs)

    monkeypatch.setattr(services, "file_move_safe", spy_move)
    with zip_upload(tmp_path) as upload, django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("datasets:upload"), {"name": "", "file": upload}, **XHR)
    assert response.status_code == 201
    dataset = Dataset.objects.get(owner=user)
    assert response.json() == {"id": str(dataset.id), "url": reverse("datasets:detail", args=[dataset.id])}
    assert dataset.name == "flowers" and dataset.status == Dataset.Status.PENDING
    # The upload handler wrote the file into FILE_UPLOAD_TEMP_DIR; it was renamed (same inode), not copied.
    [(source, inode)] = moves
    assert Path(source).parent == Path(settings.FILE_UPLOAD_TEMP_DIR)
    assert dataset.upload_path.stat().st_ino == inode
    assert dataset.upload_path.read_bytes() == (tmp_path / "flowers.zip").read_bytes()
    assert temp_dir_files(settings) == []
    assert sent_tasks == [("datasets.ingest", {"args": [str(dataset.id)], "queue": "ingest"})]


def test_form_upload_redirects_to_the_dataset_page(alice_client, user, tmp_path, sent_tasks):
    with zip_upload(tmp_path) as upload:
        response = alice_client.post(reverse("datasets:upload"), {"name": "My flowers", "file": upload})
    dataset = Dataset.objects.get(owner=user)
    assert response.status_code == 302 and response["Location"] == reverse("datasets:detail", args=[dataset.id])
    assert dataset.name == "My flowers"


def test_upload_over_the_limit_by_content_length(alice_client, tmp_path, settings, sent_tasks):
    settings.UPLOAD_MAX_BYTES = 1000
    big = write_zip(tmp_path / "big.zip", {f"a/{n}.bin": os.urandom(40_000) for n in range(3)})
    with open(big, "rb") as upload:
        response = alice_client.post(reverse("datasets:upload"), {"file": upload}, **XHR)
    assert response.status_code == 413
    assert "the largest upload accepted is 1.0 kB" in response.json()["error"]
    assert not Dataset.objects.exists() and temp_dir_files(settings) == [] and sent_tasks == []


def test_upload_over_the_limit_by_real_bytes(alice_client, tmp_path, settings, sent_tasks):
    # Content-Length is within the multipart allowance: the handler stops at the limit and drops the temp file.
    settings.UPLOAD_MAX_BYTES = 20_000
    big = write_zip(tmp_path / "big.zip", {"a/1.bin": os.urandom(30_000)})
    with open(big, "rb") as upload:
        response = alice_client.post(reverse("datasets:upload"), {"file": upload}, **XHR)
    assert response.status_code == 413
    assert "larger than the largest upload accepted (20.0 kB)" in response.json()["error"]
    assert not Dataset.objects.exists() and temp_dir_files(settings) == []
    assert not (settings.MEDIA_ROOT / "uploads").exists() or os.listdir(settings.MEDIA_ROOT / "uploads") == []


def test_upload_without_a_file(alice_client, sent_tasks):
    response = alice_client.post(reverse("datasets:upload"), {"name": "x"}, **XHR)
    assert response.status_code == 400 and "required" in response.json()["error"]
    html = alice_client.post(reverse("datasets:upload"), {"name": "x"}).content.decode()
    assert "This field is required" in html


def test_upload_needs_the_csrf_token(user, tmp_path, sent_tasks):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    with zip_upload(tmp_path) as upload:
        response = client.post(reverse("datasets:upload"), {"file": upload})
    assert response.status_code == 403 and not Dataset.objects.exists()


def test_status_json_while_pending_and_once_ready(alice_client, user, tmp_path, sent_tasks):
    dataset = Dataset.objects.create(owner=user, name="d", progress_message="Waiting for a worker")
    status = alice_client.get(reverse("datasets:status", args=[dataset.id])).json()
    assert status["status"] == "pending" and status["progress"] == 0 and status["message"] == "Waiting for a worker"
    dataset.upload_path.parent.mkdir(parents=True, exist_ok=True)
    dataset_zip(dataset.upload_path, per_class=3)
    job.ingest_dataset(dataset_id=dataset.id)
    response = alice_client.get(reverse("datasets:status", args=[dataset.id]))
    assert response["Cache-Control"].startswith("max-age=0")
    assert response.json() | {"id": None} == {
        "id": None,
        "status": "ready",
        "status_label": "Ready",
        "progress": 1.0,
        "message": "6 images in 2 classes",
        "url": reverse("datasets:detail", args=[dataset.id]),
    }


def test_dataset_page_while_processing_polls_status(alice_client, user):
    dataset = Dataset.objects.create(owner=user, name="d", status=Dataset.Status.PROCESSING, progress=0.42,
                                     progress_message="Unpacking and checking images: 10 of 40 checked")  # fmt: skip
    html = alice_client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert 'id="ingest-card"' in html and reverse("datasets:status", args=[dataset.id]) in html
    assert "width: 42%" in html and "10 of 40 checked" in html and "js/dataset_page.js" in html


def test_ready_dataset_page_shows_chart_thumbnails_sizes_and_warnings(alice_client, ingest):
    dataset = ingest(class_folders(("cat", "dog"), per_class=3) | {"dog/notes.txt": b"x"})
    html = alice_client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert 'id="class-chart"' in html and "vendor/chart.umd.min.js" in html
    assert '"labels": ["cat", "dog"]' in html and '"train": [2, 2]' in html and '"val": [1, 1]' in html
    for name in dataset.thumbnails["cat"] + dataset.thumbnails["dog"]:
        assert reverse("datasets:thumbnail", args=[dataset.id, name]) in html
    assert "dog/notes.txt" in html and "not an image file" in html
    assert "24×16" in html and "generated: 20% of each class" in html


def test_failed_dataset_page_shows_the_reason(alice_client, ingest):
    dataset = ingest(class_folders(("cat",), per_class=3))
    html = alice_client.get(reverse("datasets:detail", args=[dataset.id])).content.decode()
    assert "Ingestion failed" in html and "Found only one class folder (“cat”)" in html


def test_thumbnails_are_served_as_small_jpegs(alice_client, ingest):
    dataset = ingest(class_folders(("cat", "dog"), per_class=3))
    response = alice_client.get(reverse("datasets:thumbnail", args=[dataset.id, dataset.thumbnails["cat"][0]]))
    body = b"".join(response.streaming_content)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert body[:3] == b"\xff\xd8\xff" and len(body) < 5000
    base = reverse("datasets:detail", args=[dataset.id])
    for bad in ("thumbs/..%2Fmanifest.json", "thumbs/0_99.jpg", "thumbs/manifest.json", "thumbs/..%2F..%2Fx.jpg"):
        assert alice_client.get(base + bad).status_code == 404


def test_list_shows_the_users_datasets(alice_client, ingest):
    ingest(class_folders(("cat", "dog"), per_class=3), name="pets")
    html = alice_client.get(reverse("datasets:list")).content.decode()
    assert "pets" in html and "badge ready" in html


def test_delete_asks_then_removes_the_record_and_every_file(alice_client, ingest, django_capture_on_commit_callbacks):
    dataset = ingest(class_folders(("cat", "dog"), per_class=3))
    assert (dataset.directory / "manifest.json").exists()
    page = alice_client.get(reverse("datasets:delete", args=[dataset.id])).content.decode()
    assert "cannot be undone" in page and "Delete dataset" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("datasets:delete", args=[dataset.id]))
    assert response.status_code == 302 and response["Location"] == reverse("datasets:list")
    assert not Dataset.objects.filter(pk=dataset.id).exists()
    assert not dataset.directory.exists()


def test_deleting_during_ingestion_stops_it_and_leaves_no_files(user, tmp_path, monkeypatch):
    dataset = Dataset.objects.create(owner=user, name="d")
    dataset.upload_path.parent.mkdir(parents=True, exist_ok=True)
    dataset_zip(dataset.upload_path, per_class=3)
    real_writer = job.ProgressWriter.__call__

    def delete_midway(self, fraction, message):
        if fraction > 0.1:
            Dataset.objects.filter(pk=self.dataset_id).delete()
        self.last_write = 0
        real_writer(self, fraction, message)

    monkeypatch.setattr(job.ProgressWriter, "__call__", delete_midway)
    assert job.ingest_dataset(dataset_id=dataset.id) == "deleted"
    assert not dataset.directory.exists() and not dataset.staging_directory.exists()
    assert not dataset.upload_path.exists()


def test_deleting_a_dataset_with_a_running_study_is_refused_then_removes_every_artefact(
    alice_client, ingest, django_capture_on_commit_callbacks, settings, monkeypatch
):
    forgotten = []
    monkeypatch.setattr(TrainerClient, "forget_cache", lambda self, content_hash: forgotten.append(content_hash) or 2)
    dataset = ingest(class_folders(("cat", "dog"), per_class=3))
    study = Study.objects.create(owner=dataset.owner, dataset=dataset, name="overnight", space={}, n_trials=3,
                                 optuna_name=f"study-{dataset.pk}", state="running", optuna_ready=True)  # fmt: skip
    with_optuna = not is_sqlite()  # an in-memory SQLite test database has no Optuna storage: the PostgreSQL pass
    if with_optuna:
        optuna.create_study(study_name=study.optuna_name, storage=get_storage(), direction="maximize")
    Trial.objects.create(study=study, number=0, state="completed", trainer_key=f"{study.pk}-0")
    folder = settings.TRAINER_DATA_DIR / "trials" / f"{study.pk}-0"
    folder.mkdir(parents=True)
    (folder / "model.pth").write_bytes(b"weights")

    with django_capture_on_commit_callbacks(execute=True):
        refused = alice_client.post(reverse("datasets:delete", args=[dataset.id]), follow=True)
    assert "“overnight” is still running on this dataset: cancel it" in refused.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists() and Study.objects.filter(pk=study.pk).exists()
    assert folder.exists() and (dataset.directory / "manifest.json").exists() and not forgotten

    Study.objects.filter(pk=study.pk).update(state="cancelled")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("datasets:delete", args=[dataset.id]))
    assert response.status_code == 302 and response["Location"] == reverse("datasets:list")
    assert not Dataset.objects.filter(pk=dataset.pk).exists() and not Study.objects.exists()
    assert not Trial.objects.exists() and not folder.exists() and not dataset.directory.exists()
    if with_optuna:
        assert study.optuna_name not in {s.study_name for s in optuna.get_all_study_summaries(get_storage())}
    assert forgotten == [dataset.content_hash]
