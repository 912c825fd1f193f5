"""Read-side of API tokens: what the tokens page lists."""

from __future__ import annotations

from django.db.models import QuerySet

from platform_web.api_tokens.models import ApiToken


def tokens_of(user) -> QuerySet[ApiToken]:
    """The user's tokens, newest first."""
    return ApiToken.objects.filter(owner=user).order_by("-created_at", "-id")
