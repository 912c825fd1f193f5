"""The search space (suggestions, first trial), the storage URL, and the ETA arithmetic."""

from __future__ import annotations

import os
import uuid

import optuna
import pytest
from django.db import connections

from platform_web.studies import progress, storage
from platform_web.studies.models import EpochMetric, Study, Trial
from platform_web.studies.trial_draw import suggest_config
from tests.studies.factories import tiny_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_known_good_start_is_inside_any_space():
    space = tiny_space(architectures=["cifar_net", "lite_cnn"], input_sizes=[16, 32], batch_sizes=[16, 128],
                       epochs_min=2, epochs_max=8, optimizers=["sgd"], learning_rate_sgd_min=1e-3,
                       learning_rate_sgd_max=1e-2)  # fmt: skip
    (entry,) = space["portfolio"]  # neither small-image family chosen: one known-good start
    first = entry["params"]
    assert first["architecture"] == "cifar_net" and first["input_size"] == 32 and first["batch_size"] == 16
    assert first["epochs"] == 5  # the middle of the range: no time budget to size it to
    assert "optimizer" not in first  # one option: fixed, not an Optuna parameter
    assert first["learning_rate_sgd"] == 1e-2  # 0.05 clamped into the range


def test_suggestions_stay_in_the_space_and_fix_sizes_an_architecture_cannot_take():
    space = tiny_space(architectures=["simple_cnn", "resnet18"], input_sizes=[16, 32], optimizers=["adam", "sgd"],
                       weight_decay_min=1e-6, weight_decay_max=1e-3, augment="search")  # fmt: skip
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        params, config = suggest_config(trial, space, seed=5)
        study.tell(trial, 0.5)
        assert config["input_size"] >= space["arch_min_input"][config["architecture"]]
        lr_range = space["learning_rate_sgd"] if config["optimizer"] == "sgd" else space["learning_rate"]
        assert lr_range[0] <= config["learning_rate"] <= lr_range[1]
        assert 1e-6 <= config["weight_decay"] <= 1e-3 and config["seed"] == 5
        assert config["augment_strength"] == (params["augment_strength"] if params["augment"] else 0.0)
        seen.add((config["architecture"], config["optimizer"], config["augment"]))
    assert len(seen) >= 6  # the categorical choices are really searched


def test_fixed_choices_are_not_optuna_parameters():
    study = optuna.create_study()
    trial = study.ask()
    suggest_config(trial, tiny_space(), seed=0)
    assert set(trial.params) == {"epochs", "learning_rate"}  # CMA-ES sees only real ranges


@pytest.mark.django_db
def test_storage_url_points_at_the_platform_database():
    db = connections["default"].settings_dict
    if "sqlite" in db["ENGINE"]:
        with pytest.raises(storage.StorageError, match="database file"):
            storage.storage_url()  # pytest-django's in-memory database cannot be shared
    else:
        assert storage.storage_url().startswith("postgresql+psycopg://")
        assert storage.parallel_trials_allowed() > 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_optuna_study_on_postgresql_is_readable_by_stock_optuna():
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("runs in the PostgreSQL pass (DATABASE_URL=postgresql://...)")
    name = f"probe-{uuid.uuid4()}"
    rdb = storage.get_storage()
    try:
        created = optuna.create_study(study_name=name, storage=rdb, direction="maximize")
        created.enqueue_trial({"x": 1.0})
        loaded = optuna.load_study(study_name=name, storage=storage.storage_url())
        assert len(loaded.trials) == 1
        optuna.delete_study(study_name=name, storage=rdb)
        loaded._storage._backend.engine.dispose()
    finally:
        rdb.engine.dispose()  # let pytest-django drop its test database


@pytest.mark.django_db
def test_eta_uses_epoch_times_remaining_trials_slots_and_pruning(user, dataset):
    study = Study.objects.create(owner=user, dataset=dataset, name="s", space=tiny_space(epochs_min=4, epochs_max=4),
                                 n_trials=6, optuna_name=f"study-{uuid.uuid4()}", state="running")  # fmt: skip
    assert progress.estimate_eta(study) is None  # nothing measured yet
    done = Trial.objects.create(study=study, number=0, state="completed", epochs_planned=4, epochs_done=4)
    pruned = Trial.objects.create(study=study, number=1, state="pruned", epochs_planned=4, epochs_done=1)
    running = Trial.objects.create(study=study, number=2, state="running", epochs_planned=4, epochs_done=2)
    for trial, epochs in ((done, 4), (pruned, 1), (running, 2)):
        for epoch in range(1, epochs + 1):
            EpochMetric.objects.create(trial=trial, epoch=epoch, seconds=2.0)
    # 3 trials left, half of trials pruned after 1 epoch: 2.5 epochs each; running trial: 2 epochs left.
    expected = (3 * 2.5 + 2) * 2.0 + 3 * progress.TRIAL_OVERHEAD_SECONDS
    assert progress.estimate_eta(study) == pytest.approx(expected, abs=0.1)
    study.parallel_trials = 2
    assert progress.estimate_eta(study) == pytest.approx(expected / 2, abs=0.1)
    assert progress.estimate_trial_seconds(study, {"epochs": 3}) == pytest.approx(6 + progress.TRIAL_OVERHEAD_SECONDS)
