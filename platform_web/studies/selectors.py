"""Reading studies for pages and the JSON API (owner-scoped), and what the training service offers."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.http import Http404

from platform_web.studies import goals
from platform_web.studies.models import Study, Trial
from platform_web.studies.serializers import epoch_data, study_data, trial_data, trial_links
from platform_web.studies.trainer_client import TrainerClient, TrainerError
from trainer_api.engine.catalog import ARCHITECTURES

log = logging.getLogger(__name__)

CAPABILITIES_CACHE_SECONDS = 60


def user_studies(user):
    """The user's studies, newest first, with their dataset and best trial."""
    return Study.objects.filter(owner=user).select_related("dataset", "best_trial")


def study_for_owner(user, study_id) -> Study:
    """The study if `user` owns it; Http404 otherwise (others' studies do not exist for them)."""
    study = user_studies(user).filter(pk=study_id).first()
    if study is None:
        raise Http404("No such study.")
    return study


def study_trials(study: Study):
    """The study's trials in number order."""
    return Trial.objects.filter(study=study).order_by("number")


def trainer_capabilities() -> dict:
    """{"device_type", "device", "architectures", "reachable"} of the training service (cached a minute).

    Each architecture says whether it can start pretrained (`pretrained_weights`: the form offers
    pretrained only for those).

    When the service does not answer, the architectures come from the engine's
    registry (imported here only then) so the form still works; the page says
    the service is unreachable.
    """
    cached = cache.get("studies:trainer-capabilities")
    if cached:
        return cached
    client = TrainerClient(timeout=5)
    try:
        health = client.health()
        architectures = [a.model_dump() for a in client.architectures()]
        info = {
            "device_type": health.device_type,
            "device": health.device,
            "architectures": architectures,
            "reachable": True,
        }
        cache.set("studies:trainer-capabilities", info, CAPABILITIES_CACHE_SECONDS)
        return info
    except TrainerError as e:
        log.warning("training service unreachable for the study form: %s", e)
    architectures = [{"name": a.name, "min_input_size": a.min_input_size, "param_count": None,
                      "widths": list(a.widths) if a.widths else None, "depths": list(a.depths) if a.depths else None}
                     for a in ARCHITECTURES.values()]  # fmt: skip
    return {"device_type": "cpu", "device": "unknown", "architectures": architectures, "reachable": False}


def trial_summary(trial: Trial) -> dict:
    """One trial for the JSON API: `serializers.trial_data` with every epoch's figures."""
    return {**trial_data(trial), "epochs": [epoch_data(m) for m in trial.epochs.all()]}


def study_summary(study: Study) -> dict:
    """One study for the JSON API: `serializers.study_data`, and for a Pareto study its front's trial numbers."""
    data = study_data(study)
    if goals.is_pareto(study.space):
        data["pareto_front"] = sorted(goals.front_numbers(study_trials(study)))
    return data


def goal_context(study: Study) -> dict:
    """What the study page shows of its goal: the summary text, the budget, the front chart's points, and
    why there is no best trial when none meets the latency budget."""
    space = study.space
    goal = goals.goal_of(space)
    trials = list(study_trials(study).filter(state=Trial.State.COMPLETED)) if goal != "accuracy" else []
    return {
        "goal": goal,
        "goal_text": goals.goal_text(space),
        "latency_budget": goals.latency_budget(space),
        "pareto_points": goals.chart_points(trials, lambda t: trial_links(t)["model_url"]) if goal == "pareto" else [],
        "unmet_budget": goals.unmet_budget(study, trials),
    }
