"""API token services: authentication by hash, and the per-token rate limit's one-minute window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from platform_web.api_tokens import services
from platform_web.api_tokens.errors import InvalidToken, TokenLimitReached, TooManyRequests
from platform_web.api_tokens.models import ApiToken

pytestmark = pytest.mark.django_db


def test_a_token_authenticates_until_it_is_revoked(user):
    token, raw = services.create_token(owner=user, name="script")
    assert services.authenticate(raw) == token
    for wrong in ("", "tune_", raw[:-1], raw + "x", token.token_hash, "Bearer " + raw):
        with pytest.raises(InvalidToken):
            services.authenticate(wrong)
    services.revoke_token(owner=user, token_id=token.pk)
    with pytest.raises(InvalidToken):
        services.authenticate(raw)


def test_bearer_value_reads_the_header():
    assert services.bearer_value("Bearer abc") == "abc"
    assert services.bearer_value("bearer  abc ") == "abc"
    assert services.bearer_value("Basic abc") == ""
    assert services.bearer_value("") == ""


def test_the_limit_counts_per_token_and_a_new_minute_starts_afresh(user, settings):
    settings.API_REQUESTS_PER_MINUTE = 3
    token, _ = services.create_token(owner=user, name="a")
    other, _ = services.create_token(owner=user, name="b")
    start = timezone.now()
    for second in range(3):
        services.count_request(token, now=start + timedelta(seconds=second))
    with pytest.raises(TooManyRequests) as refused:
        services.count_request(token, now=start + timedelta(seconds=20))
    assert refused.value.retry_after == 40  # the window opened at `start`
    services.count_request(other, now=start + timedelta(seconds=20))  # another token has its own count
    services.count_request(token, now=start + timedelta(seconds=60))  # a new window
    token.refresh_from_db()
    assert token.window_count == 1 and token.last_used_at == start + timedelta(seconds=60)


def test_an_account_holds_a_bounded_number_of_tokens(user, monkeypatch):
    monkeypatch.setattr(services, "MAX_TOKENS_PER_USER", 2)
    services.create_token(owner=user, name="a")
    services.create_token(owner=user, name="b")
    with pytest.raises(TokenLimitReached):
        services.create_token(owner=user, name="c")
    assert ApiToken.objects.count() == 2
