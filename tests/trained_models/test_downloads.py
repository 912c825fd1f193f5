"""Downloads: byte-identical to the stored artefacts, named after study/architecture/accuracy, owner only."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from platform_web.trained_models.files import download_name

pytestmark = pytest.mark.django_db


def fetch(client, url: str) -> tuple[int, bytes, object]:
    response = client.get(url)
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    return response.status_code, body, response


def test_pth_and_safetensors_are_the_stored_bytes_with_readable_names(alice_client, trial):
    for kind, relative, recorded in (
        ("pth", trial.model_path, trial.model_sha256),
        ("safetensors", trial.safetensors_path, trial.safetensors_sha256),
    ):
        status, body, response = fetch(alice_client, reverse("trained_models:download", args=[trial.study_id, 0, kind]))
        assert status == 200
        assert response.streaming, "downloads are streamed, not read into memory"
        stored = (Path(settings.TRAINER_DATA_DIR) / relative).read_bytes()
        assert body == stored
        assert hashlib.sha256(body).hexdigest() == recorded
        name = re.search(r'filename="([^"]+)"', response["Content-Disposition"]).group(1)
        assert name == f"colour-study-simple_cnn-acc{trial.value:.3f}-trial0.{kind}"
        assert response["X-Content-SHA256"] == recorded


def test_model_page_shows_each_file_with_its_sha256(alice_client, trial):
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0])).content.decode()
    assert trial.model_sha256 in page and trial.safetensors_sha256 in page
    assert download_name(trial, "pth") in page
    assert "simple_cnn" in page and "blue" in page and "red" in page  # architecture and classes


def test_best_trial_download_from_the_study(alice_client, trial):
    status, body, _ = fetch(alice_client, reverse("trained_models:best_download", args=[trial.study_id, "pth"]))
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == trial.model_sha256
    response = alice_client.get(reverse("trained_models:best", args=[trial.study_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("trained_models:model", args=[trial.study_id, 0])


@pytest.mark.parametrize("kind", ["torchscript", "onnx"])
def test_exports_download_after_export_only(alice_client, trial, kind):
    url = reverse("trained_models:download", args=[trial.study_id, 0, kind])
    assert alice_client.get(url).status_code == 404  # not exported yet
    response = alice_client.post(reverse("trained_models:export", args=[trial.study_id, 0, kind]))
    assert response.status_code == 302
    status, body, response = fetch(alice_client, url)
    assert status == 200
    cached = Path(settings.TRAINER_DATA_DIR) / Path(trial.model_path).parent
    cached_file = cached / ("model.onnx" if kind == "onnx" else "model.torchscript.pt")
    assert body == cached_file.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    assert response["X-Content-SHA256"] == digest
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0])).content.decode()
    assert digest in page
    assert response["Content-Disposition"].endswith('-trial0.onnx"' if kind == "onnx" else '-trial0.torchscript.pt"')


def test_every_route_is_404_for_another_user(client, other_user, trial):
    client.force_login(other_user)
    sid = trial.study_id
    gets = [
        reverse("trained_models:download", args=[sid, 0, "pth"]),
        reverse("trained_models:download", args=[sid, 0, "safetensors"]),
        reverse("trained_models:download", args=[sid, 0, "onnx"]),
        reverse("trained_models:best_download", args=[sid, "pth"]),
        reverse("trained_models:best", args=[sid]),
        reverse("trained_models:model", args=[sid, 0]),
        reverse("trained_models:evaluation", args=[sid, 0]),
        reverse("trained_models:misclassified_image", args=[sid, 0, 0]),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        reverse("trained_models:export", args=[sid, 0, "onnx"]),
        reverse("trained_models:predict", args=[sid, 0]),
    ]
    for url in posts:
        assert client.post(url).status_code == 404, url
    export_dir = Path(settings.TRAINER_DATA_DIR) / Path(trial.model_path).parent
    assert not (export_dir / "model.onnx").exists(), "a refused export must not run"


def test_anonymous_is_sent_to_log_in(client, trial):
    response = client.get(reverse("trained_models:download", args=[trial.study_id, 0, "pth"]))
    assert response.status_code == 302 and "/accounts/login" in response["Location"]


def test_trial_without_a_model_offers_nothing(alice_client, trial):
    trial.model_path = ""
    trial.save()
    assert alice_client.get(reverse("trained_models:download", args=[trial.study_id, 0, "pth"])).status_code == 404
    page = alice_client.get(reverse("trained_models:model", args=[trial.study_id, 0]))
    assert page.status_code == 200
    assert "did not keep a model" in page.content.decode()


def test_path_escaping_the_data_folder_is_refused(alice_client, trial, tmp_path):
    secret = tmp_path / "secret.pth"
    secret.write_bytes(b"not yours")
    trial.model_path = "../../secret.pth"
    trial.save()
    assert alice_client.get(reverse("trained_models:download", args=[trial.study_id, 0, "pth"])).status_code == 404


def test_study_page_links_the_best_model_and_each_completed_trials_file(alice_client, trial):
    page = alice_client.get(reverse("studies:detail", args=[trial.study_id])).content.decode()
    url = reverse("trained_models:download", args=[trial.study_id, 0, "pth"])
    assert f'id="best-download" href="{url}"' in page  # the best trial's card
    assert reverse("trained_models:model", args=[trial.study_id, 0]) in page
    # The trial table (drawn by study_live.js) links each completed trial from the snapshot.
    snapshot = alice_client.get(reverse("studies:snapshot", args=[trial.study_id])).json()
    (row,) = snapshot["trials"]
    assert row["download_url"] == url and row["model_url"] == reverse("trained_models:model", args=[trial.study_id, 0])


@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_a_file_changed_on_disk_is_not_sent_and_the_model_page_says_why(alice_client, trial, kind):
    relative = trial.model_path if kind == "pth" else trial.safetensors_path
    stored = Path(settings.TRAINER_DATA_DIR) / relative
    good = stored.read_bytes()
    stored.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # one flipped byte, same size
    response = alice_client.get(reverse("trained_models:download", args=[trial.study_id, 0, kind]))
    assert response.status_code == 302
    assert response["Location"] == reverse("trained_models:model", args=[trial.study_id, 0])
    page = alice_client.get(response["Location"]).content.decode()
    assert "no longer matches the SHA-256 recorded" in page and "Re-run the trial" in page
    stored.write_bytes(good)
    status, body, _ = fetch(alice_client, reverse("trained_models:download", args=[trial.study_id, 0, kind]))
    assert status == 200 and body == good
