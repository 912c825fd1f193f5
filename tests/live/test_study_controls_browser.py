"""The study page's controls in a real Chromium, under its Content-Security-Policy: per-row re-runs, a confirmed
Cancel, and the live badge once the study has ended (also after a reload)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.live.web_server import ROOT
from tests.screenshots import snap

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

ARTIFACTS = ROOT / "test-artifacts"
GREEN = "rgb(230, 252, 245)"  # .live-status[data-state=live] (static/css/live.css)


def seed(server, **order) -> dict:
    """Run tests.live.seed_controls in the server's environment; its JSON answer."""
    done = subprocess.run([sys.executable, "-m", "tests.live.seed_controls", json.dumps(order)], cwd=ROOT,
                          env=server.env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def open_study(chromium, server, seeded, *, enforce_csp: bool):
    # bypass_csp only where a test needs wait_for_function (Playwright evaluates its string with eval).
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=not enforce_csp)
    context.add_cookies([{"name": "sessionid", "value": seeded["session"], "url": server.url}])
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    page.goto(f"{server.url}/studies/{seeded['study']}/")
    return page, errors


def row(page, number: int):
    return page.locator(f'#live-trials-body tr[data-number="{number}"]')


def test_rows_rerun_their_trial_and_cancel_asks_first(chromium, web_server):
    seeded = seed(web_server, action="study")
    page, errors = open_study(chromium, web_server, seeded, enforce_csp=True)
    row(page, 5).wait_for()
    page.locator("#live-status", has_text="live").wait_for()
    assert page.locator("#rerun-button").inner_text() == "Re-run unsuccessful trials (4)"
    # Failed, diverged, cancelled and skipped rows offer a re-run; only the diverged one a lower rate too.
    for number, buttons in {0: 0, 1: 2, 2: 1, 3: 1, 4: 1, 5: 0}.items():
        assert row(page, number).locator("form.rerun-form button").count() == buttons, number
    assert row(page, 1).locator(".rerun-lower").inner_text() == "Re-run, lr ÷ 3"

    with page.expect_navigation():
        row(page, 1).locator(".rerun-lower").click()
    page.locator(
        ".message.success", has_text="Queued: re-run of #1 with learning rate lowered from 0.03 to 0.01."
    ).wait_for()
    queued = seed(web_server, action="inspect", study=seeded["study"])["pending_reruns"]
    assert [e["number"] for e in queued] == [1] and queued[0]["params"]["learning_rate"] == pytest.approx(0.01)
    row(page, 2).locator(".rerun-same").wait_for()
    assert row(page, 1).locator("form.rerun-form").count() == 0  # queued already: no second re-run
    assert page.locator("#rerun-button").inner_text() == "Re-run unsuccessful trials (3)"

    # A worker runs it: the new row says what it re-runs and what changed.
    assert seed(web_server, action="rerun", study=seeded["study"])["number"] == 6
    note = "re-run of #1 with learning rate lowered from 0.03 to 0.01"
    row(page, 6).locator(".trial-note", has_text=note).wait_for()
    assert row(page, 6).locator(f'span[title="{note}"]').inner_text() == "↻1"
    assert row(page, 6).locator("form.rerun-form").count() == 0  # it completed
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#live-trials").scroll_into_view_if_needed()
    snap(page, ARTIFACTS / "study-rerun-rows.png")

    # Cancel asks first: dismissed, nothing happens; accepted, the study is cancelled.
    asked: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog):
        asked.append(dialog.message)
        dialog.accept() if answer["accept"] else dialog.dismiss()

    page.on("dialog", on_dialog)
    page.locator("#cancel-button").click()
    assert asked and asked[0].startswith("Cancel this study?")
    page.wait_for_timeout(500)
    assert seed(web_server, action="inspect", study=seeded["study"])["state"] == "running"
    assert page.locator("#cancel-button").is_visible()
    answer["accept"] = True
    with page.expect_navigation():
        page.locator("#cancel-button").click()
    assert len(asked) == 2
    page.locator(".message.success", has_text="Cancelling").wait_for()
    page.locator("#study-state.cancelled").wait_for()
    page.locator("#live-status[data-state=ended]", has_text="ended").wait_for()
    assert page.locator("#cancel-button").count() == 0
    assert row(page, 2).locator("form.rerun-form").count() == 1  # still offered on the stopped study
    page.locator("h1").scroll_into_view_if_needed()
    snap(page, ARTIFACTS / "study-cancelled-ended.png")
    assert errors == []


def test_the_live_badge_says_ended_once_the_study_ends_and_after_a_reload(chromium, web_server):
    seeded = seed(web_server, action="study", name="Ending")
    page, errors = open_study(chromium, web_server, seeded, enforce_csp=False)
    page.wait_for_function("window.studyLive && window.studyLive.live")
    status = page.locator("#live-status")
    assert status.inner_text() == "live" and status.evaluate("e => getComputedStyle(e).backgroundColor") == GREEN
    page.evaluate("window.__sameDocument = true")

    seed(web_server, action="end", study=seeded["study"])
    page.wait_for_function("document.getElementById('live-status').dataset.state === 'ended'")
    assert status.inner_text() == "ended"
    # The page reloads itself once the study stops (its controls change); the badge still says ended.
    page.wait_for_function("window.__sameDocument === undefined && window.studyLive && window.studyLive.live")
    assert page.locator("#study-state").inner_text() == "Completed"
    assert status.inner_text() == "ended" and status.get_attribute("data-state") == "ended"
    assert status.evaluate("e => getComputedStyle(e).backgroundColor") != GREEN  # grey, not live green
    page.reload()
    page.wait_for_function("window.studyLive && window.studyLive.live")
    assert status.inner_text() == "ended"
    assert errors == []
