"""The latency goals' pages in a real browser: a Pareto study draws its front, and both goals fit 390 and 1366 px."""

from __future__ import annotations

import pytest

from platform_web.studies.models import Study, Trial
from tests.browser.test_every_page_fits import STUDY_DRAWN, _check
from tests.browser.test_model_page import log_in
from tests.studies.factories import make_ready_dataset, tiny_space

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# (accuracy, latency in ms): #0, #1 and #2 are the front.
TRIALS = [(0.91, 12.5), (0.84, 4.1), (0.7, 1.9), (0.62, 3.3), (0.78, 6.0)]


def _study(user, dataset, name: str, **space) -> Study:
    study = Study.objects.create(owner=user, dataset=dataset, name=name, state=Study.State.COMPLETED, n_trials=5,
                                 optuna_name=f"latency-{name}", space=tiny_space(**space), pruner="none")  # fmt: skip
    for number, (value, latency) in enumerate(TRIALS):
        Trial.objects.create(study=study, number=number, state="completed", value=value, latency_ms_batch1=latency,
                             params={"architecture": "simple_cnn", "learning_rate": 0.003}, epochs_done=2,
                             epochs_planned=2, model_path=f"trials/{study.pk}-{number}/model.pth")  # fmt: skip
    return study


def test_the_latency_goals_pages_draw_and_fit(new_page, artifacts, live_server, user):
    dataset = make_ready_dataset(user)
    pareto = _study(user, dataset, "front", goal="pareto")
    Study.objects.filter(pk=pareto.pk).update(best_trial=Trial.objects.get(study=pareto, number=0))
    budget = _study(user, dataset, "budget", goal="latency_budget", max_latency_ms=5)
    Study.objects.filter(pk=budget.pk).update(best_trial=Trial.objects.get(study=budget, number=1))
    folder = artifacts / "pages"
    folder.mkdir(exist_ok=True)
    page = new_page()
    log_in(page, live_server, user)
    problems = _check(page, f"{live_server.url}/studies/{pareto.pk}/", "study-pareto", STUDY_DRAWN, folder)
    assert page.evaluate("window.studyPareto.points.filter((p) => p.on_front).map((p) => p.number).sort()") == [0, 1, 2]
    assert page.locator("#live-trials-body .badge.front").count() == 3
    problems += _check(page, f"{live_server.url}/studies/{budget.pk}/", "study-budget", STUDY_DRAWN, folder)
    assert page.locator("#live-trials-body .badge.over-budget").count() == 2  # 12.5 ms and 6 ms
    problems += _check(page, f"{live_server.url}/studies/new/{dataset.pk}/", "study-new-goal", None, folder)
    page.select_option("#id_goal", "pareto")
    assert page.locator("#pareto-note").is_visible() and page.locator("#id_pruner").is_disabled()
    page.select_option("#id_goal", "latency_budget")
    assert page.locator("#id_max_latency_ms").is_visible()
    assert not problems, "\n".join(problems)
    assert page.errors == []
