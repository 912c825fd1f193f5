from django.contrib import admin

from platform_web.datasets.models import Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "status", "image_count", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "owner__username")
