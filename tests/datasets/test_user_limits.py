"""Per-user upload limits: uploads per minute and storage, refused with a message that says the limit."""

from __future__ import annotations

import os
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from platform_web.datasets import services
from platform_web.datasets.errors import UploadRejected
from platform_web.datasets.models import Dataset
from tests.datasets.builders import dataset_zip
from tests.datasets.test_views import XHR, sent_tasks, temp_dir_files, zip_upload  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sent_tasks")]  # uploads queue nothing


def upload(client, tmp_path, n: int):
    with zip_upload(tmp_path, name=f"set{n}.zip") as handle:
        return client.post(reverse("datasets:upload"), {"file": handle}, **XHR)


def test_uploads_past_the_limit_a_minute_get_429_with_the_limit(alice_client, user, tmp_path, settings):
    settings.UPLOADS_PER_MINUTE = 3
    answers = [upload(alice_client, tmp_path, n).status_code for n in range(5)]
    assert answers == [201, 201, 201, 429, 429]
    refused = upload(alice_client, tmp_path, 9)
    assert "the limit is 3 a minute" in refused.json()["error"]
    # The first upload frees its place a minute after it came: the client is told when to come back.
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert f"Upload again in {refused['Retry-After']} s" in refused.json()["error"]
    assert Dataset.objects.filter(owner=user).count() == 3
    assert temp_dir_files(settings) == []


def test_an_upload_past_the_users_storage_is_refused_and_others_are_not_counted(
    alice_client, user, other_user, tmp_path, settings
):
    first = upload(alice_client, tmp_path, 0)
    assert first.status_code == 201
    size = Dataset.objects.get(owner=user).zip_size
    settings.USER_STORAGE_BYTES = size * 2 - 1
    Dataset.objects.create(owner=other_user, name="theirs", zip_size=10**12)  # someone else's use does not count
    refused = upload(alice_client, tmp_path, 1)
    assert refused.status_code == 413
    assert "does not fit" in refused.json()["error"] and "Delete a dataset" in refused.json()["error"]
    assert Dataset.objects.filter(owner=user).count() == 1
    Dataset.objects.filter(owner=user).delete()
    assert upload(alice_client, tmp_path, 2).status_code == 201


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_uploads_sent_at_once_still_meet_the_limit_a_minute(user, tmp_path, settings):
    """Ten uploads of one user at the same moment: the limit counts them one after another, not all at once."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgresql://...): concurrent writers need it")
    settings.UPLOADS_PER_MINUTE = 5
    archive = dataset_zip(tmp_path / "set.zip", per_class=3)
    start = threading.Barrier(10)
    answers: list[str] = []

    def send(n: int) -> None:
        start.wait()
        try:
            upload_file = SimpleUploadedFile(f"set{n}.zip", archive.read_bytes(), content_type="application/zip")
            services.create_dataset_from_upload(owner=user, name=f"set{n}", upload=upload_file)
            answers.append("accepted")
        except UploadRejected as e:
            answers.append(f"refused {e.status}")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == ["accepted"] * 5 + ["refused 429"] * 5, answers
    assert Dataset.objects.filter(owner=user).count() == 5
