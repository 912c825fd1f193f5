"""Per-user upload limits: uploads per minute and storage, refused with a message that says the limit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from platform_web.datasets.models import Dataset
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
