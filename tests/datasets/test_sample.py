"""The sample dataset: generated shapes, made from the empty dataset list's button or the command line,
ingested through the normal path."""

from __future__ import annotations

import io
import zipfile
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

from platform_web.datasets import sample
from platform_web.datasets.models import Dataset
from worker.ingest import job

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_tasks(monkeypatch):
    sent = []
    monkeypatch.setattr("platform_web.celery.app.send_task", lambda name, **kw: sent.append((name, kw)))
    return sent


def test_the_zip_holds_six_folders_of_varied_shapes_and_is_the_same_for_a_seed():
    data = sample.sample_zip_bytes(per_class=12, size=32)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert Counter(name.split("/")[1] for name in names) == {name: 12 for name in sample.CLASSES}
    assert {name.rsplit(".", 1)[1] for name in names} == {"png", "jpg"}
    assert data == sample.sample_zip_bytes(per_class=12, size=32)
    assert data != sample.sample_zip_bytes(per_class=12, size=32, seed=1)
    # not trivial: neither the colour nor the mean brightness gives the class away
    zf = zipfile.ZipFile(io.BytesIO(data))
    means = {c: [sum(Image.open(zf.open(n)).convert("L").getdata()) / 1024 for n in names if f"/{c}/" in n]
             for c in sample.CLASSES}  # fmt: skip
    spreads = [max(values) - min(values) for values in means.values()]
    assert min(spreads) > 40, spreads


def test_the_empty_list_offers_the_sample_and_the_button_ingests_it(
    alice_client, user, sent_tasks, django_capture_on_commit_callbacks
):
    page = alice_client.get(reverse("datasets:list")).content.decode()
    assert 'id="sample-button"' in page and reverse("datasets:sample") in page
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("datasets:sample"))
    dataset = Dataset.objects.get(owner=user)
    assert response.status_code == 302 and response["Location"] == reverse("datasets:detail", args=[dataset.id])
    assert dataset.name == sample.NAME and dataset.status == Dataset.Status.PENDING
    assert [name for name, _ in sent_tasks] == ["datasets.ingest"]  # the normal ingestion path, queued
    assert job.ingest_dataset(dataset_id=dataset.id) == Dataset.Status.READY
    dataset.refresh_from_db()
    assert dataset.classes == sorted(sample.CLASSES) and dataset.image_count == sample.PER_CLASS * 6
    assert 'id="sample-button"' not in alice_client.get(reverse("datasets:list")).content.decode()


def test_the_sample_needs_a_signed_in_post(client, user):
    assert client.post(reverse("datasets:sample")).status_code == 302  # to the login page
    client.force_login(user)
    assert client.get(reverse("datasets:sample")).status_code == 405
    assert not Dataset.objects.exists()


def test_the_command_writes_the_zip(tmp_path, capsys):
    out = tmp_path / "shapes.zip"
    call_command("make_sample_dataset", "--out", str(out), "--per-class", "10", "--size", "24")
    assert len(zipfile.ZipFile(out).namelist()) == 60
    assert "60 images in 6 classes" in capsys.readouterr().out
    with pytest.raises(CommandError, match="does not end in .zip"):
        call_command("make_sample_dataset", "--out", str(tmp_path / "shapes.tar"))
