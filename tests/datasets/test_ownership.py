"""Another user's dataset answers 404 on every route, and is left as it was."""

import pytest
from django.urls import reverse

from platform_web.datasets.models import Dataset
from tests.datasets.builders import class_folders

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def alices_dataset(ingest, user):
    dataset = ingest(class_folders(("cat", "dog"), per_class=3), owner=user, name="alice-private-set")
    assert dataset.status == Dataset.Status.READY
    return dataset


def routes(dataset: Dataset) -> list[tuple[str, str]]:
    thumb = dataset.thumbnails["cat"][0]
    return [
        ("get", reverse("datasets:detail", args=[dataset.id])),
        ("get", reverse("datasets:status", args=[dataset.id])),
        ("get", reverse("datasets:thumbnail", args=[dataset.id, thumb])),
        ("get", reverse("datasets:delete", args=[dataset.id])),
        ("post", reverse("datasets:delete", args=[dataset.id])),
    ]


def test_every_route_answers_404_to_another_user(client, other_user, alices_dataset):
    client.force_login(other_user)
    for method, url in routes(alices_dataset):
        assert getattr(client, method)(url).status_code == 404, url
    assert "alice-private-set" not in client.get(reverse("datasets:list")).content.decode()
    alices_dataset.refresh_from_db()  # the POST to delete did nothing
    assert (alices_dataset.directory / "manifest.json").exists()


def test_the_owner_gets_every_route(alice_client, alices_dataset):
    for method, url in routes(alices_dataset)[:-1]:
        assert getattr(alice_client, method)(url).status_code == 200, url
    assert "alice-private-set" in alice_client.get(reverse("datasets:list")).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client, alices_dataset):
    for method, url in routes(alices_dataset):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and reverse("accounts:login") in response["Location"], url


def test_unknown_dataset_is_404(alice_client):
    assert alice_client.get("/datasets/00000000-0000-0000-0000-000000000000/").status_code == 404
