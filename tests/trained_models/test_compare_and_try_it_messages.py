"""Compare with fewer than two models says so; try-it refuses files that are not images with a 400 naming them."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from platform_web.core.launcher import free_port
from platform_web.trained_models.try_it import is_image
from tests.trained_models.builders import install_trial

pytestmark = pytest.mark.django_db
COMPARE = reverse("trained_models:compare")


def test_compare_with_nothing_ticked_says_so(alice_client, trial):
    response = alice_client.get(COMPARE, {"compare": "1"})  # the Compare button pressed, no box ticked
    assert response.status_code == 200
    assert response.context["compare_message"]["level"] == "error"
    html = response.content.decode()
    assert 'id="compare-message"' in html and "Nothing was ticked" in html
    assert 'class="message error"' in html  # in the site's message style
    assert 'id="compare-table"' not in html
    assert 'id="compare-submit"' in html and 'id="compare-hint"' in html  # the picker is still there


def test_the_first_visit_has_no_message(alice_client, trial):
    response = alice_client.get(COMPARE)
    assert response.status_code == 200 and response.context["compare_message"] is None
    assert 'id="compare-message"' not in response.content.decode()


def test_references_that_are_not_the_users_say_so(client, other_user, trial):
    client.force_login(other_user)
    response = client.get(COMPARE, {"t": [f"{trial.study_id}:0", "junk"], "compare": "1"})
    assert response.status_code == 200 and response.context["trials"] == []
    html = response.content.decode()
    assert "None of the chosen models can be compared" in html
    assert trial.study.name not in html


def test_one_model_asks_for_one_more_and_two_need_no_message(alice_client, trained, trial, user):
    response = alice_client.get(COMPARE, {"t": f"{trial.study_id}:0", "compare": "1"})
    message = response.context["compare_message"]
    assert message["level"] == "info" and "Pick at least one more trial or study" in message["text"]
    assert 'id="compare-table"' in response.content.decode()  # the one model's metrics are still shown
    install_trial(trained, user, study=trial.study, number=1)
    response = alice_client.get(COMPARE, {"t": [f"{trial.study_id}:0", f"{trial.study_id}:1"], "compare": "1"})
    assert len(response.context["trials"]) == 2 and response.context["compare_message"] is None


def predict(client, trial, files):
    return client.post(reverse("trained_models:predict", args=[trial.study_id, trial.number]), {"files": files})


@pytest.fixture
def no_trainer(settings):
    """Nothing listens at the inference service's address: an answer that needs it says it is not answering."""
    settings.INFERENCE_URL = f"http://127.0.0.1:{free_port('127.0.0.1')}"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 12), (30, 40, 210)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_text_file_is_a_400_naming_it_without_asking_the_service(alice_client, trial, no_trainer):
    text = SimpleUploadedFile("notes.txt", b"shopping list: apples", content_type="text/plain")
    response = predict(alice_client, trial, [text])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "notes.txt is not an image: choose JPEG, PNG, WebP, GIF, BMP or TIFF files to classify."
    (result,) = body["results"]
    assert result["filename"] == "notes.txt" and result["predictions"] is None and result["not_image"] is True
    assert result["error"].startswith("Not a readable image: notes.txt is not an image file")


def test_text_named_like_an_image_is_judged_by_its_bytes(alice_client, trial, no_trainer):
    posing = SimpleUploadedFile("holiday.png", b"this is text, not a PNG", content_type="image/png")
    pdf = SimpleUploadedFile("scan.pdf", b"%PDF-1.7\n1 0 obj\n", content_type="application/pdf")
    response = predict(alice_client, trial, [posing, pdf])
    assert response.status_code == 400
    assert response.json()["error"].startswith("None of the 2 files is an image (holiday.png, scan.pdf)")


def test_with_one_image_among_them_the_image_goes_to_the_service(alice_client, trial, no_trainer):
    text = SimpleUploadedFile("notes.txt", b"not a picture", content_type="text/plain")
    image = SimpleUploadedFile("blue.png", png_bytes(), content_type="image/png")
    response = predict(alice_client, trial, [text, image])
    # not refused for the text file: the image was sent, and the (absent) service is what failed
    assert response.status_code == 400 and "inference service is not answering" in response.json()["error"]


def test_is_image_reads_the_header_only():
    assert is_image(SimpleUploadedFile("a.png", png_bytes()))
    assert is_image(SimpleUploadedFile("cut.png", png_bytes()[:60]))  # damaged: the service says what is wrong
    assert not is_image(SimpleUploadedFile("a.txt", b"hello"))
    assert not is_image(SimpleUploadedFile("a.zip", b"PK\x03\x04" + b"\0" * 40))
    upload = SimpleUploadedFile("b.png", png_bytes())
    is_image(upload)
    assert upload.tell() == 0  # left at the start for the request to the service


def test_the_model_page_has_the_list_of_skipped_files(alice_client, trial):
    html = alice_client.get(reverse("trained_models:model", args=[trial.study_id, trial.number])).content.decode()
    assert 'id="try-skipped"' in html and 'id="try-results"' in html
