"""Per-user study limits: studies running at once, trials and hours per study."""

from __future__ import annotations

import pytest

from platform_web.studies import services
from platform_web.studies.models import Study
from tests.studies.factories import tiny_space

pytestmark = pytest.mark.django_db


def start(user, dataset, **kwargs) -> Study:
    values = {"owner": user, "dataset": dataset, "name": "s", "space": tiny_space(), "n_trials": 2,
              "timeout_seconds": None}  # fmt: skip
    values.update(kwargs)
    return services.start_study(**values)


def test_studies_past_the_active_limit_are_refused_until_one_ends(user, dataset, enqueued, settings):
    settings.ACTIVE_STUDIES_PER_USER = 2
    first, _second = start(user, dataset), start(user, dataset)
    with pytest.raises(services.StudyError, match="You have 2 studies running or queued; the limit is 2"):
        start(user, dataset)
    Study.objects.filter(pk=first.pk).update(state=Study.State.COMPLETED)
    assert start(user, dataset).state == Study.State.QUEUED


def test_too_many_trials_or_hours_are_refused_with_the_limit(user, dataset, enqueued, settings):
    settings.STUDY_MAX_TRIALS, settings.STUDY_MAX_HOURS = 50, 2
    with pytest.raises(services.StudyError, match="at most 50 trials"):
        start(user, dataset, n_trials=51)
    with pytest.raises(services.StudyError, match="at most 2 hours"):
        start(user, dataset, n_trials=None, timeout_seconds=2 * 3600 + 1)
    assert not Study.objects.exists()
    assert start(user, dataset, n_trials=50, timeout_seconds=2 * 3600).n_trials == 50
