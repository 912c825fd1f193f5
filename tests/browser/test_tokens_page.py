"""A real Chromium on the API tokens page: create (the token shown once), list, revoke; it fits 390 and 1366 px."""

from __future__ import annotations

import pytest

from platform_web.api_tokens.models import ApiToken
from platform_web.api_tokens.services import hash_token
from tests.browser.page_fit import overflows
from tests.browser.test_model_page import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1366)
LONG_NAME = "Nightly stock-camera script on the warehouse Raspberry Pi (shelf 14, aisle B)"  # 78 of 80


def fits(page, name: str, artifacts) -> list[str]:
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(200)
        problems += [f"{name} at {width} px: {problem}" for problem in overflows(page)]
        page.screenshot(path=str(artifacts / f"tokens-{name}-{width}.png"), full_page=True, animations="disabled")
    return problems


def test_create_list_and_revoke_in_a_browser(new_page, artifacts, live_server, user):
    page = new_page(390)
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}/datasets/")
    page.click("header.topbar >> text=API tokens")
    assert page.url.endswith("/accounts/tokens/")
    problems = fits(page, "empty", artifacts)

    page.fill("input[name=name]", LONG_NAME)
    page.click("#create-token-button")
    page.wait_for_selector("#new-token-value")
    raw = page.inner_text("#new-token-value").strip()
    assert ApiToken.objects.get().token_hash == hash_token(raw)
    assert LONG_NAME in page.inner_text("#token-list")
    problems += fits(page, "created", artifacts)

    page.goto(f"{live_server.url}/accounts/tokens/")
    assert raw not in page.content() and f"{raw[:11]}…" in page.inner_text("#token-list")
    problems += fits(page, "list", artifacts)

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#token-list button:has-text('Revoke')")
    page.wait_for_selector(".message.success")
    assert "is revoked" in page.inner_text(".messages") and not ApiToken.objects.exists()
    problems += fits(page, "revoked", artifacts)
    assert not problems, "\n".join(problems)
    assert page.errors == []
