"""The prediction API: images posted with a user's API token, classified by a real inference service.

The answers equal the copy-paste snippet's on the downloaded `.pth`; tokens, ownership,
the rate limit and non-images are refused with the status and JSON a program can act on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from platform_web.api_tokens import services as tokens
from platform_web.studies.models import Trial
from tests.trained_models.snippet_runner import downloaded_with_snippet, run_snippet

pytestmark = pytest.mark.django_db


@pytest.fixture
def offline(settings):
    """No inference service: whatever these tests check is answered before one would be asked."""
    settings.INFERENCE_URL = "http://127.0.0.1:9"


@pytest.fixture
def api_token(user) -> str:
    return tokens.create_token(owner=user, name="test script")[1]


def image(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/octet-stream")


def val_images(trial: Trial) -> list[Path]:
    folder = Path(trial.study.dataset.directory) / "files/val"
    return [folder / "blue/001.jpg", folder / "green/002.png", folder / "red/000.png", folder / "red/003.png"]


def post(client, trial, token: str | None, files: list, **fields):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    url = reverse("api_v1:predict", args=[trial.study_id, trial.number])
    return client.post(url, {"image": files, **fields}, headers=headers)


@pytest.mark.slow
def test_predictions_through_a_token_equal_the_snippets(client, alice_client, served_trial, api_token, tmp_path):
    images = val_images(served_trial)
    response = post(client, served_trial, api_token, [image(p) for p in images])
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["top_k"] == 3 and answer["classes"] == ["blue", "green", "red"]
    folder = tmp_path / "user"
    folder.mkdir()
    snippet_lines = run_snippet(folder, downloaded_with_snippet(alice_client, served_trial, folder), images)
    assert [r["filename"] for r in answer["results"]] == [p.name for p in images]
    for result, line in zip(answer["results"], snippet_lines, strict=True):
        assert [p["class"] for p in result["predictions"]] == [p["class_name"] for p in line["predictions"]][:3]
        for ours, theirs in zip(result["predictions"], line["predictions"], strict=False):
            assert ours["probability"] == pytest.approx(theirs["probability"], abs=1e-4)
    assert tokens.authenticate(api_token).last_used_at is not None


@pytest.mark.slow
def test_top_k_is_capped_at_the_number_of_classes(client, served_trial, api_token):
    one = post(client, served_trial, api_token, [image(val_images(served_trial)[0])], top_k="1").json()
    assert len(one["results"][0]["predictions"]) == 1
    many = post(client, served_trial, api_token, [image(val_images(served_trial)[0])], top_k="50").json()
    assert many["top_k"] == 3 and len(many["results"][0]["predictions"]) == 3
    bad = post(client, served_trial, api_token, [image(val_images(served_trial)[0])], top_k="two")
    assert bad.status_code == 400 and "top_k" in bad.json()["error"]


@pytest.mark.slow
def test_a_damaged_image_is_refused_naming_it(client, served_trial, api_token):
    good = val_images(served_trial)[1]
    broken = SimpleUploadedFile("broken.png", good.read_bytes()[:60])
    response = post(client, served_trial, api_token, [image(good), broken])
    assert response.status_code == 400
    assert response.json()["error"].startswith("broken.png cannot be classified")
    assert [f["filename"] for f in response.json()["files"]] == ["broken.png"]


def test_the_inference_service_down_is_a_503_with_retry_after(client, trial, offline, api_token):
    response = post(client, trial, api_token, [image(val_images(trial)[0])])
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["error"] == "The inference service is not answering; try again in a minute."


@pytest.mark.parametrize("header", [None, "Bearer tune_not-a-real-token", "Bearer ", "Token abc"])
def test_a_missing_or_wrong_token_gets_401(client, trial, offline, header):
    headers = {"Authorization": header} if header else {}
    url = reverse("api_v1:predict", args=[trial.study_id, trial.number])
    response = client.post(url, {"image": [image(val_images(trial)[0])]}, headers=headers)
    assert response.status_code == 401
    assert "API token" in response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_gets_401_at_once(client, trial, offline, user, api_token):
    assert post(client, trial, api_token, []).status_code == 400  # accepted: it asks for an image
    tokens.revoke_token(owner=user, token_id=tokens.authenticate(api_token).pk)
    assert post(client, trial, api_token, []).status_code == 401


def test_a_session_does_not_authenticate_and_needs_no_csrf_token(alice_client, trial, offline, api_token):
    alice_client.handler.enforce_csrf_checks = True
    assert post(alice_client, trial, None, [image(val_images(trial)[0])]).status_code == 401
    assert post(alice_client, trial, api_token, []).status_code == 400  # past CSRF and the token: no image


def test_another_users_model_and_a_trial_without_a_model_are_404(client, trial, offline, other_user):
    theirs = tokens.create_token(owner=other_user, name="mallory's")[1]
    response = post(client, trial, theirs, [image(val_images(trial)[0])])
    assert response.status_code == 404 and "No such model" in response.json()["error"]
    mine = tokens.create_token(owner=trial.study.owner, name="alice's")[1]
    pruned = Trial.objects.create(study=trial.study, number=7, state=Trial.State.PRUNED, params=trial.params)
    response = post(client, pruned, mine, [image(val_images(trial)[0])])
    assert response.status_code == 404 and "did not keep a model" in response.json()["error"]


def test_over_the_limit_gets_429_with_retry_after(client, trial, offline, api_token, user, settings):
    settings.API_REQUESTS_PER_MINUTE = 2
    assert [post(client, trial, api_token, []).status_code for _ in range(2)] == [400, 400]
    refused = post(client, trial, api_token, [])
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "API_REQUESTS_PER_MINUTE" in refused.json()["error"]
    other = tokens.create_token(owner=user, name="second script")[1]
    assert post(client, trial, other, []).status_code == 400  # the limit is per token


def test_files_that_are_not_images_get_400_naming_them(client, trial, offline, api_token):
    notes = SimpleUploadedFile("notes.txt", b"this is not a picture", content_type="text/plain")
    response = post(client, trial, api_token, [image(val_images(trial)[0]), notes])
    assert response.status_code == 400
    assert response.json()["error"].startswith("notes.txt cannot be classified: Not a readable image")
    assert response.json()["files"][0]["filename"] == "notes.txt"
    assert "'image'" in post(client, trial, api_token, []).json()["error"]


def test_the_model_page_documents_the_api_with_this_models_url(alice_client, trial):
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, trial.number]))
    html = page.content.decode()
    url = "http://testserver" + reverse("api_v1:predict", args=[trial.study_id, trial.number])
    assert "-F image=@photo.jpg" in html and url in html
    assert f'href="{reverse("api_tokens:list")}"' in html
