"""The trainers' internal routes, built from the paths trainer_api/file_transfer.py declares."""

from __future__ import annotations

import re

from django.urls import path

from platform_web.trainer_files import views
from trainer_api.file_transfer import DATASET_ARCHIVE_ROUTE, TRIAL_FILE_ROUTE

app_name = "trainer_files"


def _pattern(route: str) -> str:
    """The route as Django writes it: "/a/{x}/b" becomes "a/<str:x>/b"."""
    return re.sub(r"\{(\w+)\}", r"<str:\1>", route.removeprefix("/"))


urlpatterns = [
    path(_pattern(DATASET_ARCHIVE_ROUTE), views.dataset_archive, name="dataset_archive"),
    path(_pattern(TRIAL_FILE_ROUTE), views.trial_file, name="trial_file"),
]
