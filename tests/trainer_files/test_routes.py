"""The trainers' internal routes (trainer_api/file_transfer.py): token, 404s, the dataset tar, trial files."""

from __future__ import annotations

import hashlib
import io
import uuid
import warnings

import pytest
from django.test import Client

from tests.trainer_files.conftest import TOKEN
from trainer_api.dataset_archive import extract_dataset_tar
from trainer_api.file_transfer import (
    CONTENT_HASH_HEADER,
    SHA256_HEADER,
    dataset_archive_route,
    trial_file_route,
)

pytestmark = pytest.mark.django_db


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(client, key: str, name: str, data: bytes, digest: str | None = None, **headers):
    if digest is not None:
        headers[f"HTTP_{SHA256_HEADER.upper().replace('-', '_')}"] = digest
    return client.put(trial_file_route(key, name), data=data, content_type="application/octet-stream", **headers)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer "])
def test_every_route_refuses_a_missing_or_wrong_token(client, dataset, trial, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    for response in (
        client.get(dataset_archive_route(str(dataset.id)), **headers),
        client.get(trial_file_route(trial.trainer_key, "model.pth"), **headers),
        put(client, trial.trainer_key, "model.pth", b"x", sha(b"x"), **headers),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
        assert "token" in response.json()["detail"]
    assert not (trial.study.dataset.directory.parent.parent / "trainer" / "trials").exists()


def test_the_dataset_tar_round_trips_to_the_folder_content_hash(client, auth, dataset, tmp_path):
    response = client.get(dataset_archive_route(str(dataset.id)), **auth)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-tar"
    assert response[CONTENT_HASH_HEADER] == dataset.content_hash
    body = b"".join(response.streaming_content)
    copy = tmp_path / "copy"
    assert extract_dataset_tar(io.BytesIO(body), copy, response[CONTENT_HASH_HEADER]) == dataset.content_hash
    assert (copy / "manifest.json").read_bytes() == (dataset.directory / "manifest.json").read_bytes()
    assert not (copy / "thumbs").exists()  # thumbnails stay behind


def test_only_a_ready_dataset_is_sent(client, auth, dataset):
    for status in ("pending", "processing", "failed"):
        type(dataset).objects.filter(pk=dataset.pk).update(status=status)
        response = client.get(dataset_archive_route(str(dataset.id)), **auth)
        assert response.status_code == 404, status
        assert str(dataset.id) in response.json()["detail"]
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert client.get(dataset_archive_route(unknown), **auth).status_code == 404


def test_put_then_get_returns_the_stored_bytes_with_their_hash(client, auth, trial, settings):
    data = b"weights" * 1000
    assert put(client, trial.trainer_key, "model.pth", data, sha(data), **auth).status_code == 201
    stored = settings.TRAINER_DATA_DIR / "trials" / trial.trainer_key / "model.pth"
    assert stored.read_bytes() == data
    response = client.get(trial_file_route(trial.trainer_key, "model.pth"), **auth)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response[SHA256_HEADER] == sha(data)
    newer = b"better weights"
    assert put(client, trial.trainer_key, "model.pth", newer, sha(newer), **auth).status_code == 204
    assert stored.read_bytes() == newer
    assert [p.name for p in stored.parent.iterdir()] == ["model.pth"]  # no temporary file left


@pytest.mark.parametrize("digest", [None, "", "0" * 64, "not-hex"])
def test_a_put_without_the_right_hash_leaves_the_old_file_untouched(client, auth, trial, settings, digest):
    old = b"the good checkpoint"
    assert put(client, trial.trainer_key, "checkpoint.pt", old, sha(old), **auth).status_code == 201
    response = put(client, trial.trainer_key, "checkpoint.pt", b"cut in transit", digest, **auth)
    assert response.status_code == 400
    assert "SHA-256" in response.json()["detail"]
    folder = settings.TRAINER_DATA_DIR / "trials" / trial.trainer_key
    assert (folder / "checkpoint.pt").read_bytes() == old
    assert [p.name for p in folder.iterdir()] == ["checkpoint.pt"]


def test_unknown_keys_and_names_are_refused_and_nothing_is_written(client, auth, trial, settings):
    data = b"x"
    for key, name in [
        ("999-0", "model.pth"),  # a key no trial has
        (trial.trainer_key, "evil.sh"),  # not a file that travels
        (trial.trainer_key, "..%2Fmodel.pth"),
        ("..", "model.pth"),
        ("-bad", "model.pth"),
    ]:
        assert put(client, key, name, data, sha(data), **auth).status_code == 404, (key, name)
        assert client.get(trial_file_route(key, name), **auth).status_code == 404, (key, name)
    assert not (settings.TRAINER_DATA_DIR / "trials").exists()


def test_get_of_a_file_the_platform_does_not_have_is_404(client, auth, trial):
    response = client.get(trial_file_route(trial.trainer_key, "state.json"), **auth)
    assert response.status_code == 404
    assert "state.json" in response.json()["detail"]


def test_a_body_larger_than_the_upload_memory_limits_is_accepted(client, auth, trial, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    data = bytes(range(256)) * (3 * 1024 * 1024 // 256 + 7)  # 3 MiB and a bit: many chunks, past both limits
    assert put(client, trial.trainer_key, "checkpoint.pt", data, sha(data), **auth).status_code == 201
    assert (settings.TRAINER_DATA_DIR / "trials" / trial.trainer_key / "checkpoint.pt").read_bytes() == data


def test_the_routes_need_no_csrf_token_and_no_session(auth, trial):
    strict = Client(enforce_csrf_checks=True)
    data = b"{}"
    assert put(strict, trial.trainer_key, "state.json", data, sha(data), **auth).status_code == 201
    assert "sessionid" not in strict.cookies


def test_other_methods_are_refused(client, auth, dataset, trial):
    assert client.post(dataset_archive_route(str(dataset.id)), **auth).status_code == 405
    assert client.delete(trial_file_route(trial.trainer_key, "model.pth"), **auth).status_code == 405


@pytest.mark.django_db(transaction=True)
async def test_a_large_body_passes_through_the_asgi_handler_daphne_runs(async_client, settings, trial):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    data = b"\x07" * (2 * 1024 * 1024)
    response = await async_client.put(
        trial_file_route(trial.trainer_key, "checkpoint.pt"), data=data, content_type="application/octet-stream",
        headers={"Authorization": f"Bearer {TOKEN}", SHA256_HEADER: sha(data)},
    )  # fmt: skip
    assert response.status_code == 201
    assert (settings.TRAINER_DATA_DIR / "trials" / trial.trainer_key / "checkpoint.pt").stat().st_size == len(data)


def test_production_https_redirect_spares_the_trainers_routes(settings, auth, trial):
    settings.SECURE_SSL_REDIRECT = True  # as PRODUCTION sets it; SECURE_REDIRECT_EXEMPT is the real list
    client = Client()
    data = b"{}"
    assert put(client, trial.trainer_key, "state.json", data, sha(data), **auth).status_code == 201
    assert client.get(trial_file_route(trial.trainer_key, "state.json"), **auth).status_code == 200
    assert client.get("/datasets/").status_code == 301


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_tar_and_files_stream_without_being_listed_in_memory(async_client, dataset, trial,
                                                                                  tmp_path):  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}"}
    data = b"\x01" * (3 * 1024 * 1024)
    with warnings.catch_warnings():
        # Django warns (and reads the whole iterator into a list) when it cannot stream a response under ASGI.
        warnings.filterwarnings("error", message=".*must consume synchronous iterators.*")
        put_response = await async_client.put(
            trial_file_route(trial.trainer_key, "model.pth"), data=data, content_type="application/octet-stream",
            headers={**headers, SHA256_HEADER: sha(data)},
        )  # fmt: skip
        assert put_response.status_code == 201
        got = await async_client.get(trial_file_route(trial.trainer_key, "model.pth"), headers=headers)
        assert got.status_code == 200 and got[SHA256_HEADER] == sha(data)
        assert b"".join([part async for part in got]) == data  # as ASGIHandler sends it
        tar = await async_client.get(dataset_archive_route(str(dataset.id)), headers=headers)
        body = b"".join([part async for part in tar])
    assert extract_dataset_tar(io.BytesIO(body), tmp_path / "copy", dataset.content_hash) == dataset.content_hash
