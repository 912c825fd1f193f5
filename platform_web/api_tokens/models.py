"""A user's API tokens: the prediction API authenticates with them instead of a session."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """One named bearer token of a user; only its SHA-256 is kept, never the token itself.

    `window_started_at` and `window_count` are the per-token rate limit's fixed one-minute
    window (platform_web/api_tokens/services.py `count_request`).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, help_text="the token's first characters, shown to tell tokens apart")
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the whole token, hex")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    window_started_at = models.DateTimeField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
