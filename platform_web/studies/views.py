"""Study pages: list, new (from a dataset, or as a copy), detail with controls, and the live snapshot over HTTP."""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from platform_web.datasets.models import Dataset
from platform_web.studies import conf, live, selectors, services
from platform_web.studies.forms import StudyForm
from platform_web.studies.progress import progress_payload
from platform_web.studies.serializers import stall_text
from platform_web.studies.space import build_space, default_form_values, form_values_from_space, space_summary
from platform_web.studies.storage import parallel_trials_allowed
from trainer_api.engine.hyperparameters import table_labels


@login_required
def study_list(request):
    studies = selectors.user_studies(request.user)
    return render(request, "studies/list.html", {"studies": studies})


@login_required
def study_new(request, dataset_id):
    """The search-space form for a ready dataset; `?from=<study id>` starts from a study's settings (clone)."""
    dataset = get_object_or_404(Dataset, pk=dataset_id, owner=request.user)
    if dataset.status != Dataset.Status.READY:
        messages.error(request, "This dataset is not ready yet: studies start once ingestion has finished.")
        return redirect("datasets:detail", dataset_id=dataset.pk)
    capabilities = selectors.trainer_capabilities()
    architectures = capabilities["architectures"]
    source = None
    if request.GET.get("from"):
        source = selectors.study_for_owner(request.user, request.GET["from"])
        initial = form_values_from_space(source)
    else:
        initial = default_form_values(dataset=dataset, device_type=capabilities["device_type"],
                                      architectures=architectures)  # fmt: skip
    form_kwargs = {
        "architectures": architectures,
        "parallel_allowed": parallel_trials_allowed(),
        "class_counts": dataset.class_counts,
    }
    if request.method == "POST":
        form = StudyForm(request.POST, **form_kwargs)
        if form.is_valid():
            data = form.cleaned_data
            try:
                study = services.start_study(
                    owner=request.user, dataset=dataset, name=data["name"], space=build_space(data, architectures),
                    n_trials=data["n_trials"], timeout_seconds=(data["timeout_minutes"] or 0) * 60 or None,
                    parallel_trials=data["parallel_trials"], sampler=data["sampler"], pruner=data["pruner"],
                    seed=data["seed"], start_token=data["start_token"],
                )  # fmt: skip
            except services.StudyError as e:
                form.add_error(None, str(e))
            else:
                return redirect("studies:detail", study_id=study.pk)
    else:
        form = StudyForm(initial=initial, **form_kwargs)
    return render(
        request,
        "studies/new.html",
        {
            "form": form,
            "dataset": dataset,
            "capabilities": capabilities,
            "source": source,
            "arch_minimums": {a["name"]: a["min_input_size"] for a in architectures},
        },
    )


@login_required
def study_detail(request, study_id):
    study = selectors.study_for_owner(request.user, study_id)
    return render(
        request,
        "studies/detail.html",
        {
            "study": study,
            "progress": progress_payload(study),
            "controls": _controls(study),
            "stall": stall_text(study),
            "stall_seconds": conf.STALL_SECONDS,
            "space_rows": space_summary(study.space),
            "table_labels": table_labels(),
            **selectors.goal_context(study),
        },
    )


@login_required
def study_snapshot(request, study_id):
    """The live page's snapshot over HTTP, for when its WebSocket cannot connect (the same JSON the socket sends)."""
    study = selectors.study_for_owner(request.user, study_id)
    return JsonResponse(live.study_snapshot(study.pk))


def _controls(study) -> dict:
    active = study.state in ("queued", "running")
    stopped = study.state in services.FINISHED
    return {
        "cancel": active,
        "resume": stopped,
        # How many unsuccessful trials the re-run button queues (0: no button).
        "rerun": 0 if study.state == "cancelling" else len(services.rerunnable_trials(study)),
        "delete": stopped,
    }


def _control(request, study_id, action, done_message):
    study = selectors.study_for_owner(request.user, study_id)
    try:
        result = action(study=study)
    except services.StudyError as e:
        messages.error(request, str(e))
    else:
        messages.success(request, done_message(result) if callable(done_message) else done_message)
    return redirect("studies:detail", study_id=study.pk)


@login_required
@require_POST
def study_cancel(request, study_id):
    return _control(request, study_id, services.cancel_study, "Cancelling: running trials stop within one batch.")


@login_required
@require_POST
def study_resume(request, study_id):
    return _control(request, study_id, services.resume_study, "Resumed: the study continues to its budget.")


def _rerun_message(entries: list[dict]) -> str:
    if len(entries) == 1:
        return f"Queued: {entries[0]['note']}."
    numbers = ", ".join(f"#{e['number']}" for e in entries)
    return f"{len(entries)} unsuccessful trials will run again: {numbers}."


@login_required
@require_POST
def study_rerun(request, study_id):
    """Every unsuccessful trial again (failed, diverged, cancelled, skipped); `lower_lr=1`: diverged ones at lr / 3."""
    lower_lr = request.POST.get("lower_lr") == "1"
    action = functools.partial(services.rerun_trials, lower_lr=lower_lr)
    return _control(request, study_id, action, _rerun_message)


@login_required
@require_POST
def study_rerun_trial(request, study_id, number):
    """One unsuccessful trial again, from its row in the trial table; `lower_lr=1` for a diverged one."""
    lower_lr = request.POST.get("lower_lr") == "1"
    action = functools.partial(services.rerun_trials, numbers=[number], lower_lr=lower_lr)
    return _control(request, study_id, action, _rerun_message)


@login_required
def study_delete(request, study_id):
    study = selectors.study_for_owner(request.user, study_id)
    if request.method == "POST":
        try:
            services.delete_study(study=study)
        except services.StudyError as e:
            messages.error(request, str(e))
            return redirect("studies:detail", study_id=study.pk)
        messages.success(request, f"Deleted the study “{study.name}” with its trials and models.")
        return redirect("studies:list")
    return render(request, "studies/delete.html", {"study": study})


@login_required
def study_clone(request, study_id):
    """Clone with changes: the new-study form filled in from this study."""
    study = selectors.study_for_owner(request.user, study_id)
    return redirect(reverse("studies:new", kwargs={"dataset_id": study.dataset_id}) + f"?from={study.pk}")
