"""A real Chromium checks the small controls: the upload box, Cancel, Compare, try-it, the error pages, the forms.

Each test fails without its fix: a file that is not a zip is said in the error
message style with the Upload button disabled; Cancel shows only while an upload
runs and cancelling resets the form; Compare waits for a tick; try-it lists a
text file as "not an image" and counts only the images it classified; an unknown
URL gets the site's own 404 page; the new-study form and the upload page keep
their labels on one line and their <select> boxes wide enough for their options
at 390 and 1366 px. Screenshots land in test-artifacts/small-controls/.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse

from platform_web.datasets.models import Dataset
from platform_web.studies import selectors as study_selectors
from tests.browser.test_model_page import log_in
from tests.screenshots import snap
from tests.studies.factories import ARCHITECTURES, make_ready_dataset
from tests.trained_models.builders import install_trial, train_model
from tests.trainer_process import InferenceProcess

TOKEN = "small-controls-token"
WIDTHS = (390, 1366)
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ERROR_BACKGROUND_JS = """
() => {
  const holder = document.createElement("div");
  holder.className = "messages";
  holder.innerHTML = '<div class="message error">reference</div>';
  document.body.appendChild(holder);
  const colour = getComputedStyle(holder.firstChild).backgroundColor;
  holder.remove();
  return colour;
}
"""


@pytest.fixture
def shots(artifacts) -> Path:
    folder = artifacts / "small-controls"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny simple_cnn trained by the real engine on the colour dataset (a few seconds on one core)."""
    return train_model(tmp_path_factory.mktemp("trained"), epochs=2)


def signed_in_page(new_page, live_server, user, width: int = 1280):
    page = new_page(width=width)
    log_in(page, live_server, user)
    return page


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("cats/001.png", b"not checked by the page")
    return buffer.getvalue()


def random_zip(path: Path, size: int) -> Path:
    """A zip of incompressible bytes: `size` bytes go over the wire, slowly enough to cancel."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("cats/blob.bin", bytes((i * 7919 + (i >> 8)) % 251 for i in range(size)))
    return path


def test_not_a_zip_is_an_error_and_upload_stays_disabled(new_page, live_server, user, shots):
    page = signed_in_page(new_page, live_server, user)
    page.goto(f"{live_server.url}/datasets/upload/")
    assert page.is_disabled("#upload-button")  # nothing chosen yet
    assert page.is_hidden("#cancel-button")  # no upload runs
    assert page.is_hidden("#upload-progress")
    error_colour = page.evaluate(ERROR_BACKGROUND_JS)

    page.set_input_files("#id_file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "not a .zip file" in page.inner_text("#upload-error")
    assert page.evaluate("getComputedStyle(document.getElementById('upload-error')).backgroundColor") == error_colour
    assert page.evaluate("document.getElementById('dropzone').classList.contains('has-error')")
    assert not page.evaluate("document.getElementById('dropzone').classList.contains('has-file')")
    # var(--bad), not the green of a good file (after the box's .15 s colour transition)
    page.wait_for_function(
        "getComputedStyle(document.getElementById('dropzone')).borderTopColor === 'rgb(201, 42, 42)'", timeout=5_000
    )
    assert page.is_disabled("#upload-button")
    assert page.is_hidden("#cancel-button")
    snap(page, shots / "upload-not-a-zip.png", full_page=True)

    # named .zip but not one inside: the first bytes are checked (PK\x03\x04)
    fake = {"name": "holiday.zip", "mimeType": "application/zip", "buffer": b"\xff\xd8\xff\xe0 a JPEG really"}
    page.set_input_files("#id_file", files=[fake])
    page.wait_for_function("document.getElementById('upload-error').textContent.includes('not a zip archive')")
    assert page.is_disabled("#upload-button")

    # an empty file, and one over the server's limit, are refused before anything is sent
    page.set_input_files("#id_file", files=[{"name": "empty.zip", "mimeType": "application/zip", "buffer": b""}])
    assert "is empty" in page.inner_text("#upload-error") and page.is_disabled("#upload-button")
    limit = page.get_attribute("#upload-form", "data-max-bytes")
    assert limit and int(limit) > 0  # the server's UPLOAD_MAX_BYTES reaches the page
    page.evaluate("() => { document.getElementById('upload-form').dataset.maxBytes = '10'; }")
    good = {"name": "cats.zip", "mimeType": "application/zip", "buffer": zip_bytes()}
    page.set_input_files("#id_file", files=[good])
    assert "the largest upload accepted" in page.inner_text("#upload-error") and page.is_disabled("#upload-button")
    page.evaluate(f"() => {{ document.getElementById('upload-form').dataset.maxBytes = '{limit}'; }}")

    # a zip: the error goes, the box turns green, Upload is enabled
    page.set_input_files("#id_file", files=[good])
    page.wait_for_selector("#upload-button:not([disabled])")
    assert page.is_hidden("#upload-error")
    assert page.evaluate("document.getElementById('dropzone').classList.contains('has-file')")
    assert page.input_value("#id_name") == "cats"
    snap(page, shots / "upload-zip-chosen.png", full_page=True)
    assert page.errors == []


def test_cancel_shows_only_during_an_upload_and_resets_the_form(new_page, live_server, user, shots, tmp_path):
    page = signed_in_page(new_page, live_server, user)
    page.goto(f"{live_server.url}/datasets/upload/")
    assert page.is_hidden("#cancel-button")
    page.set_input_files("#id_file", str(random_zip(tmp_path / "big.zip", 3_000_000)))
    page.wait_for_selector("#upload-button:not([disabled])")
    assert page.is_hidden("#cancel-button")  # a file is chosen, but nothing is being sent

    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 150_000})  # fmt: skip
    page.click("#upload-button")
    page.wait_for_selector("#cancel-button:visible")
    assert page.is_visible("#upload-progress")
    snap(page, shots / "upload-running.png", full_page=True)
    page.click("#cancel-button")
    page.wait_for_selector("#upload-notice:not([hidden])")
    assert "Upload cancelled" in page.inner_text("#upload-notice")
    assert page.is_hidden("#cancel-button") and page.is_hidden("#upload-progress")
    assert page.is_disabled("#upload-button")  # the form is reset: choose a zip again
    assert page.evaluate("document.getElementById('id_file').files.length") == 0
    assert page.input_value("#id_name") == ""
    assert "Drop a .zip here" in page.inner_text("#dropzone")
    assert page.is_hidden("#upload-error")
    snap(page, shots / "upload-cancelled.png", full_page=True)
    assert Dataset.objects.count() == 0
    assert page.errors == []


def test_compare_waits_for_a_tick(new_page, live_server, user, trained, shots):
    first = install_trial(trained, user, study_name="Colour search")
    install_trial(trained, user, study=first.study, number=1)
    page = signed_in_page(new_page, live_server, user)
    page.goto(f"{live_server.url}{reverse('trained_models:compare')}")
    assert page.is_disabled("#compare-submit")
    assert page.inner_text("#compare-hint") == "Tick one or more models to compare."
    snap(page, shots / "compare-nothing-ticked.png", full_page=True)
    page.locator(f"input[name=t][value='{first.study_id}:0']").check()
    assert page.is_enabled("#compare-submit")
    page.locator(f"input[name=t][value='{first.study_id}:0']").uncheck()
    assert page.is_disabled("#compare-submit")
    page.press(f"input[name=t][value='{first.study_id}:1']", "Enter")  # no silent reload with nothing ticked
    assert page.url.endswith(reverse("trained_models:compare"))

    # the server says it too when it is asked with nothing ticked
    page.goto(f"{live_server.url}{reverse('trained_models:compare')}?compare=1")
    assert "Nothing was ticked" in page.inner_text("#compare-message")
    assert page.evaluate(ERROR_BACKGROUND_JS) == page.evaluate(
        "getComputedStyle(document.getElementById('compare-message')).backgroundColor"
    )
    assert page.errors == []


@pytest.fixture(scope="module")
def inference_service(tmp_path_factory):
    service = InferenceProcess(tmp_path_factory.mktemp("inference"), token=TOKEN)
    service.start()
    yield service
    service.stop()


def test_try_it_lists_a_text_file_as_not_an_image(new_page, live_server, settings, inference_service, trained, user,
                                                   shots):  # fmt: skip
    settings.TRAINER_DATA_DIR = inference_service.data_dir
    settings.INFERENCE_URL = inference_service.url
    settings.TRAINER_TOKEN = TOKEN
    trial = install_trial(trained, user)
    path = Path(trial.study.dataset.directory) / "files/val/blue/002.png"
    image = {"name": path.name, "mimeType": "image/png", "buffer": path.read_bytes()}
    page = signed_in_page(new_page, live_server, user)
    page.goto(f"{live_server.url}{reverse('trained_models:model', args=[trial.study_id, trial.number])}#try")

    text = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"shopping list: apples"}
    page.set_input_files("#try-files", files=[text, image])
    assert "is not an image" in page.inner_text("#try-chosen")
    page.click("#try-submit")
    page.wait_for_function("document.getElementById('try-status').textContent.startsWith('Done')")
    assert page.inner_text("#try-status").startswith("Done: 1 image classified.")
    skipped = page.inner_text("#try-skipped")
    assert "not an image: notes.txt — choose JPEG, PNG" in skipped
    assert page.locator("#try-results .result").count() == 1
    assert page.get_attribute("#try-results .result", "data-filename") == "002.png"
    page.wait_for_function("Array.from(document.querySelectorAll('#try-results img')).every(i => i.complete)")
    assert page.evaluate("Array.from(document.querySelectorAll('#try-results img')).every(i => i.naturalWidth > 0)")
    page.locator("#try").screenshot(path=str(shots / "try-it-text-file.png"))

    # text named .png: the browser sends it, the server answers that it is not an image
    posing = {"name": "holiday.png", "mimeType": "image/png", "buffer": b"this is text, not a PNG"}
    page.set_input_files("#try-files", files=[posing, image])
    page.click("#try-submit")
    page.wait_for_function("document.getElementById('try-skipped').textContent.includes('holiday.png')")
    page.wait_for_function("document.getElementById('try-status').textContent.startsWith('Done')")
    assert page.inner_text("#try-status").startswith("Done: 1 image classified.")
    assert page.locator("#try-results .result").count() == 1

    # nothing but non-images: nothing is counted, the server's 400 names the file
    page.set_input_files("#try-files", files=[posing])
    page.click("#try-submit")
    page.wait_for_function("document.getElementById('try-status').textContent.includes('holiday.png is not an image')")
    assert page.inner_text("#try-status") == (
        "holiday.png is not an image: choose JPEG, PNG, WebP, GIF, BMP or TIFF files to classify."
    )
    assert "not an image: holiday.png" in page.inner_text("#try-skipped")
    assert page.locator("#try-results .result").count() == 0
    page.locator("#try").screenshot(path=str(shots / "try-it-only-text.png"))
    assert page.errors == []


@pytest.mark.parametrize("signed_in", [True, False])
def test_unknown_url_gets_the_sites_404_page(new_page, live_server, user, shots, signed_in):
    page = signed_in_page(new_page, live_server, user) if signed_in else new_page()
    response = page.goto(f"{live_server.url}/datasets/00000000-0000-0000-0000-000000000000/no-such-page/")
    assert response.status == 404
    assert page.is_visible("header.topbar .brand")  # the site's layout
    assert "We could not find that page" in page.inner_text("#error-page")
    links = {page.locator("#error-page a").nth(i).inner_text(): page.locator("#error-page a").nth(i).get_attribute("href")
             for i in range(page.locator("#error-page a").count())}  # fmt: skip
    assert links == {"Go to your datasets": "/datasets/", "Home": "/"}
    html = page.content()
    assert "no-such-page" not in html and "Traceback" not in html and "urlpatterns" not in html
    snap(page, shots / f"404-{'signed-in' if signed_in else 'anonymous'}.png", full_page=True)
    page.click("text=Go to your datasets")
    page.wait_for_load_state()
    assert page.url.startswith(f"{live_server.url}/") and "/no-such-page/" not in page.url
    assert page.errors == []


# In the page: every form label on one line, above or beside its input as the layout wants, every
# <select> wide enough for its longest option.
FORM_FIT_JS = """
() => {
  const problems = [];
  const describe = (el) => (el.id ? "#" + el.id : el.getAttribute("for") ? "label[for=" + el.getAttribute("for") + "]" : el.tagName);
  for (const label of document.querySelectorAll("main form label[for]")) {
    const control = document.getElementById(label.getAttribute("for"));
    if (!control || control.type === "checkbox" || control.type === "radio" || control.type === "file") continue;
    const style = getComputedStyle(label);
    if (style.display === "none") continue;
    const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
    const box = label.getBoundingClientRect(), input = control.getBoundingClientRect();
    if (box.height > lineHeight * 1.5) problems.push(describe(label) + " wraps onto " + Math.round(box.height / lineHeight) + " lines");
    if (box.bottom > input.top + 1) problems.push(describe(label) + " is not above its input");
    if (Math.abs(box.left - input.left) > 1) problems.push(describe(label) + " does not start where its input starts");
  }
  const canvas = document.createElement("canvas").getContext("2d");
  for (const select of document.querySelectorAll("main form select")) {
    const style = getComputedStyle(select);
    canvas.font = style.fontWeight + " " + style.fontSize + " " + style.fontFamily;
    const longest = Math.max(...Array.from(select.options).map((o) => canvas.measureText(o.text).width));
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20; // the arrow
    // Cut is a problem unless the select already takes its column's whole width (a phone cannot fit a sentence).
    const column = select.parentElement.clientWidth;
    if (longest > room && select.getBoundingClientRect().width < column - 1) {
      problems.push("#" + select.id + " cuts its options: " + Math.round(longest) + " px of text in " + Math.round(room) + " px, in a " + column + " px column");
    }
  }
  // Side by side fields of one row start at the same height, their inputs too (an aligned grid).
  for (const row of document.querySelectorAll("main form .field-row")) {
    const inputs = Array.from(row.querySelectorAll(":scope > .field > input, :scope > .field > select"));
    const byTop = new Map();
    for (const input of inputs) {
      const field = input.closest(".field").getBoundingClientRect();
      const key = Math.round(field.top);
      if (!byTop.has(key)) byTop.set(key, []);
      byTop.get(key).push(input.getBoundingClientRect().top);
    }
    for (const [top, tops] of byTop) {
      if (Math.max(...tops) - Math.min(...tops) > 1) problems.push("inputs of a row starting at " + top + " px are not aligned");
    }
  }
  return problems;
}
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_forms_keep_labels_on_one_line_and_selects_wide_enough(new_page, live_server, user, shots, width,
                                                               monkeypatch):  # fmt: skip
    monkeypatch.setattr(
        study_selectors,
        "trainer_capabilities",
        lambda: {"device_type": "cpu", "device": "cpu", "architectures": ARCHITECTURES, "reachable": True},
    )
    dataset = make_ready_dataset(user, name="Shapes")
    pages = {
        "new-study": reverse("studies:new", kwargs={"dataset_id": dataset.pk}),
        "upload": reverse("datasets:upload"),
    }
    problems = {}
    for name, url in pages.items():
        page = signed_in_page(new_page, live_server, user, width=width)
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        snap(page, shots / f"{name}-{width}.png", full_page=True)
        problems[name] = page.evaluate(FORM_FIT_JS)
        if page.evaluate("document.documentElement.scrollWidth") > width:
            problems[name].append("the page is wider than the viewport")
        assert page.errors == []
    for name, url in {"login": reverse("accounts:login"), "signup": reverse("accounts:signup")}.items():
        page = new_page(width=width)
        page.goto(f"{live_server.url}{url}")
        snap(page, shots / f"{name}-{width}.png", full_page=True)
        problems[name] = page.evaluate(FORM_FIT_JS)
    assert {name: found for name, found in problems.items() if found} == {}
