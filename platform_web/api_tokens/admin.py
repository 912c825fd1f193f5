from django.contrib import admin

from platform_web.api_tokens.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at", "window_started_at", "window_count")
    search_fields = ("name", "owner__username", "prefix")
