"""API tokens: create, revoke, authenticate a request's bearer token, and count it against the rate limit.

A token is `tune_` followed by 43 URL-safe characters (32 random bytes). Only its SHA-256
is stored: with that much randomness a fast hash cannot be reversed by guessing, and it
lets a request find its token by an indexed lookup. The first characters (`prefix`) are
kept so the owner can tell tokens apart on the tokens page.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from platform_web.api_tokens.errors import InvalidToken, TokenLimitReached, TooManyRequests
from platform_web.api_tokens.models import ApiToken

TOKEN_START = "tune_"
SHOWN_CHARS = len(TOKEN_START) + 6
MAX_TOKENS_PER_USER = 20
WINDOW = timedelta(minutes=1)
INVALID_MESSAGE = (
    "Missing, wrong or revoked API token: send 'Authorization: Bearer <token>' with a token "
    "from your account's API tokens page."
)


def hash_token(raw: str) -> str:
    """The SHA-256 (hex) under which a token is stored and looked up."""
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def create_token(*, owner, name: str) -> tuple[ApiToken, str]:
    """A new token for `owner`: the row (holding only the hash) and the token itself, to be shown once."""
    if ApiToken.objects.filter(owner=owner).count() >= MAX_TOKENS_PER_USER:
        raise TokenLimitReached(
            f"You already have {MAX_TOKENS_PER_USER} tokens, the most an account may hold; revoke one first."
        )
    raw = TOKEN_START + secrets.token_urlsafe(32)
    token = ApiToken(owner=owner, name=name.strip(), prefix=raw[:SHOWN_CHARS], token_hash=hash_token(raw))
    token.full_clean()
    token.save()
    return token, raw


def revoke_token(*, owner, token_id: int) -> ApiToken:
    """Delete the owner's token: the next request carrying it gets 401. ApiToken.DoesNotExist for others' tokens."""
    token = ApiToken.objects.get(pk=token_id, owner=owner)
    token.delete()
    return token


def bearer_value(authorization: str) -> str:
    """The token in an `Authorization: Bearer <token>` header value ("" when there is none)."""
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authenticate(raw: str) -> ApiToken:
    """The live token for a raw token string, with its owner; InvalidToken when it is empty, wrong or revoked."""
    if not raw.startswith(TOKEN_START):
        raise InvalidToken(INVALID_MESSAGE)
    token = ApiToken.objects.select_related("owner").filter(token_hash=hash_token(raw)).first()
    if token is None or not token.owner.is_active:
        raise InvalidToken(INVALID_MESSAGE)
    return token


def count_request(token: ApiToken, *, now: datetime | None = None) -> None:
    """Count one request against the token's API_REQUESTS_PER_MINUTE; TooManyRequests when it is over.

    A fixed one-minute window per token, kept on the token's row and changed only by
    conditional UPDATEs, so concurrent requests in several web processes never count past
    the limit (no lock, the same on SQLite and PostgreSQL). Refused requests are not counted.
    """
    now = now or timezone.now()
    limit = settings.API_REQUESTS_PER_MINUTE
    rows = ApiToken.objects.filter(pk=token.pk)
    expired = Q(window_started_at__isnull=True) | Q(window_started_at__lte=now - WINDOW)
    if rows.filter(expired).update(window_started_at=now, window_count=1, last_used_at=now):
        return
    if rows.filter(window_count__lt=limit).update(window_count=F("window_count") + 1, last_used_at=now):
        return
    started = rows.values_list("window_started_at", flat=True).first()
    if started is None:  # revoked between authentication and now
        raise InvalidToken(INVALID_MESSAGE)
    retry_after = max(1, math.ceil((started + WINDOW - now).total_seconds()))
    raise TooManyRequests(
        f"This token made {limit} requests in the last minute, its limit (API_REQUESTS_PER_MINUTE); "
        f"try again in {retry_after} s.",
        retry_after=retry_after,
    )


def authenticate_request(authorization: str) -> ApiToken:
    """The token of an API request's Authorization header, counted against its rate limit.

    InvalidToken (401) or TooManyRequests (429) when the request must be refused.
    """
    token = authenticate(bearer_value(authorization))
    count_request(token)
    return token
