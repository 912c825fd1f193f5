from django.contrib import admin

from platform_web.studies.models import Study, Trial


class TrialInline(admin.TabularInline):
    model = Trial
    extra = 0
    fields = ("number", "state", "value", "epochs_done", "train_seconds", "error")
    readonly_fields = fields


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "dataset", "state", "trials_completed", "created_at")
    list_filter = ("state",)
    search_fields = ("name", "owner__username")
    inlines = [TrialInline]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ("study", "number", "state", "value", "epochs_done")
    list_filter = ("state",)
