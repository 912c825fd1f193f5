"""The portfolio start, time slices and fitted epochs, and pruning that is fair to longer schedules."""

from __future__ import annotations

import uuid

import optuna
import pytest

from platform_web.studies.models import EpochMetric, Study, Trial
from platform_web.studies.portfolio import portfolio_entries
from platform_web.studies.space import build_space, default_form_values
from platform_web.studies.trial_draw import suggest_config
from tests.studies.factories import ARCHITECTURES, make_ready_dataset, tiny_space
from worker.studies import budget
from worker.studies.pruning import make_pruner, schedule_points

optuna.logging.set_verbosity(optuna.logging.WARNING)


def default_space(user, *, minutes: int | None = 5) -> dict:
    dataset = make_ready_dataset(user, size=64)
    values = default_form_values(dataset=dataset, device_type="cpu", architectures=ARCHITECTURES)
    values["timeout_minutes"] = minutes
    return build_space(values, ARCHITECTURES)


@pytest.mark.django_db
def test_default_portfolio_is_the_small_image_families_inside_the_space(user):
    space = default_space(user)
    entries = space["portfolio"]
    # At 64 px small_resnet's stem pooling makes it the faster family: a quick start, then a long run.
    assert [e["params"]["architecture"] for e in entries] == ["small_resnet", "small_resnet"]
    assert [e["params"]["augment_strength"] for e in entries] == [0.25, 0.4]
    assert [(e["share"], e["max_epochs"]) for e in entries] == [(0.2, 15), (0.7, None)]
    assert sum(e["share"] for e in entries) < 1  # time is left for the sampler
    study = optuna.create_study(direction="maximize")
    for entry in entries:
        study.enqueue_trial(entry["params"])
        trial = study.ask()
        params, config = suggest_config(trial, space, seed=0)
        # every portfolio value is a point of the space: Optuna took it as given, not resampled
        assert {k: trial.params[k] for k in entry["params"]} == entry["params"]
        assert "epochs" not in trial.params  # with a time budget the epochs are the resource, not a parameter
        assert config["scheduler"] == "onecycle" and config["width"] == params["width"]
        study.tell(trial, 0.5)


def test_portfolio_entries_are_clamped_into_a_narrow_space_and_never_empty():
    narrow = tiny_space(architectures=["small_resnet", "simple_cnn"], width_min=8, width_max=16,
                        learning_rate_min=1e-4, learning_rate_max=1e-3)  # fmt: skip
    quick, long = narrow["portfolio"]  # at 16 px the quick start wants bn_cnn, which was not chosen
    assert quick["params"]["architecture"] == "small_resnet" and long["params"]["architecture"] == "small_resnet"
    assert quick["params"]["width"] == 16 and quick["params"]["learning_rate"] == 1e-3
    small = tiny_space(architectures=["small_resnet", "bn_cnn"])
    assert [e["params"]["architecture"] for e in small["portfolio"]] == ["bn_cnn", "small_resnet"]
    (fallback,) = portfolio_entries(tiny_space(architectures=["simple_cnn"]))
    assert fallback["name"] == "Known-good start"


@pytest.mark.django_db
def test_slices_leave_no_idle_end_and_epochs_fill_them(user):
    dataset = make_ready_dataset(user)
    study = Study(owner=user, dataset=dataset, timeout_seconds=300, space=tiny_space(epochs_min=2, epochs_max=40))
    assert budget.slice_seconds(study, share=0.5, remaining=300) == 150
    assert budget.slice_seconds(study, share=None, remaining=200) == pytest.approx(45)  # SEARCH_SHARE
    # what a search slice would leave (20 s) could not hold a useful trial: this one takes it all
    assert budget.slice_seconds(study, share=None, remaining=65) == 65
    assert budget.fit_epochs(study.space, slice_s=150, epoch_s=6, overhead_s=4) == 24
    assert budget.fit_epochs(study.space, slice_s=1000, epoch_s=6, overhead_s=4) == 40  # the range's top
    assert budget.fit_epochs(study.space, slice_s=15, epoch_s=6, overhead_s=4) is None  # not even 2 epochs
    # a slice too short for the range's low end, with more time left in the budget: the low end
    assert budget.fit_epochs(study.space, slice_s=15, epoch_s=6, overhead_s=4, remaining_s=100) == 2
    assert budget.fit_epochs(study.space, slice_s=15, epoch_s=6, overhead_s=4, remaining_s=15) is None
    assert budget.fit_epochs(study.space, slice_s=150, epoch_s=6, overhead_s=4, max_epochs=15) == 15


@pytest.mark.django_db
def test_epoch_estimates_learn_from_this_studys_trials(user):
    dataset = make_ready_dataset(user)
    study = Study.objects.create(owner=user, dataset=dataset, name="s", space=tiny_space(), timeout_seconds=300,
                                 optuna_name=f"study-{uuid.uuid4()}")  # fmt: skip
    config = {"architecture": "small_resnet", "width": 32, "depth": 1, "input_size": 16, "batch_size": 16}
    first = budget.estimate_epoch(study, config, probe=lambda c: 2.0)
    assert first.source == "probe" and first.seconds == pytest.approx(2.0 * budget.DEFAULT_PROBE_FACTOR)
    done = Trial.objects.create(study=study, number=0, state="completed", config=config, epochs_done=4,
                                train_seconds=12.0, estimated_epoch_seconds=2.0)  # fmt: skip
    EpochMetric.objects.create(trial=done, epoch=1, seconds=2.9)
    assert budget.estimate_epoch(study, config, probe=lambda c: 1 / 0).seconds == pytest.approx(3.0)  # measured
    other = dict(config, width=64)
    estimate = budget.estimate_epoch(study, other, probe=lambda c: 5.0)
    assert estimate.source == "probe" and estimate.seconds == pytest.approx(5.0 * 1.5)  # real epochs ran 1.5x


def test_every_schedule_reports_the_same_steps_at_its_own_fractions():
    for epochs in (1, 3, 4, 7, 10, 16, 40):
        steps = [s for epoch in range(1, epochs + 1) for s, _ in schedule_points(epoch, epochs, 0.5, 0.5)]
        assert steps == list(range(10, 101, 10)), epochs
    # epoch 2 of 4 spans 25-50 %: steps 30, 40, 50, interpolated from epoch 1's 0.4 to this epoch's 0.9
    assert schedule_points(2, 4, 0.9, 0.4) == [(30, pytest.approx(0.5)), (40, pytest.approx(0.7)), (50, 0.9)]


def _run(study: optuna.Study, curve: list[float], chance: float = 0.1) -> str:
    """Report a trial's per-epoch accuracies as the objective does; how it ended."""
    trial = study.ask()
    previous = chance
    for epoch, accuracy in enumerate(curve, start=1):
        for step, value in schedule_points(epoch, len(curve), accuracy, previous):
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return "pruned"
        previous = accuracy
    study.tell(trial, max(curve))
    return "completed"


@pytest.mark.django_db
@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_a_longer_trial_is_not_pruned_early_only_for_its_schedule(user, pruner):
    dataset = make_ready_dataset(user)
    row = Study(owner=user, dataset=dataset, n_trials=20, pruner=pruner, space=tiny_space())
    study = optuna.create_study(direction="maximize", pruner=make_pruner(row), sampler=optuna.samplers.RandomSampler(0))
    short = [0.5, 0.7, 0.8, 0.85]  # four-epoch schedules: near their best at epoch 3
    endings = [_run(study, short) for _ in range(6)]
    if pruner == "median":
        assert endings == ["completed"] * 6  # the median pruner waits for its start-up trials
    # A 16-epoch one-cycle trial is slower at first (its rate is still high at epoch 3) and ends better;
    # compared epoch by epoch it would lose to the short trials' final epochs.
    longer = [0.3, 0.4, 0.5, 0.55, 0.62, 0.68, 0.72, 0.75, 0.78, 0.82, 0.84, 0.86, 0.87, 0.88, 0.9, 0.9]
    assert _run(study, longer) == "completed"
    if pruner == "median":  # ...while one that is worse at the same point of its schedule is still pruned
        worse = [0.2, 0.22, 0.25, 0.27, 0.3, 0.3, 0.31, 0.32, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
        assert _run(study, worse) == "pruned"


@pytest.mark.django_db
def test_epoch_by_epoch_reporting_would_have_pruned_the_longer_trial(user):
    """The same trials reported per epoch (the old way): the fair comparison above is what saves the long one."""
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0))  # fmt: skip
    for _ in range(5):
        trial = study.ask()
        for epoch, accuracy in enumerate([0.5, 0.7, 0.8, 0.85], start=1):
            trial.report(accuracy, epoch)
        study.tell(trial, 0.85)
    trial = study.ask()
    trial.report(0.3, 1)
    assert trial.should_prune()
