"""One parallel slot of a study: Optuna's optimize loop until the budget is spent or the study is cancelled.

`run_slot` is what the Celery task calls. It is idempotent: a slot task for a
finished study does nothing, a copy of a running slot waits for the lease
(`SlotBusy`), and a slot that starts after a crash first fails and retries the
trials its dead predecessor left running.

The trial budget counts trials that finished training (completed, pruned,
diverged); failed trials do not use it up, since they are retried or can be
re-run. A slot stops asking for trials when finished + running trials reach
the budget, so parallel slots never overshoot it. The last slot to stop sets
the study's final state.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings

import optuna
import redis
from django.db import close_old_connections, transaction
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState

from platform_web.studies import conf, goals, progress, records
from platform_web.studies.closing import ACTIVE_STATES, finish_if_last
from platform_web.studies.models import Study, Trial
from platform_web.studies.recovery import fail_orphans
from platform_web.studies.slots import SlotLease
from platform_web.studies.storage import get_storage, is_sqlite, load_optuna_study
from platform_web.studies.trainer_client import TrainerClient, TrainerError, TrainerUnavailable
from worker.studies.objective import Objective, TrialFailed
from worker.studies.pruning import make_pruner

log = logging.getLogger(__name__)
optuna.logging.set_verbosity(optuna.logging.WARNING)


class SlotBusy(Exception):
    """Another live task holds this slot's lease (a duplicate delivery, or the dead holder's lease has not expired)."""


def make_sampler(study: Study, slot: int, trials_so_far: int) -> optuna.samplers.BaseSampler:
    """The study's sampler, seeded per slot and per run so parallel slots and resumes draw different points."""
    seed = (study.seed + 7919 * slot + trials_so_far) % (2**31)
    budget = study.n_trials or 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        if study.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if study.sampler == "cmaes" and not goals.is_pareto(study.space):  # (one objective only: the form refuses it)
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if study.sampler == "qmc":
            return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)
        # The portfolio's trials count as start-up trials: TPE models the space from them on.
        startup = max(3, min(10, budget // 4))
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=startup, multivariate=True, group=True, constant_liar=True
        )


def ensure_optuna_study(study: Study) -> optuna.Study:
    """Create the Optuna study once, with the portfolio's trials enqueued first; enqueue requested re-runs."""
    # PostgreSQL: the row lock makes the first of several slots do this alone. SQLite runs one slot, and
    # an open (IMMEDIATE) transaction there would block Optuna's writes on its own connection.
    lock = contextlib.nullcontext() if is_sqlite() else transaction.atomic()
    with lock:
        row = Study.objects.select_for_update().get(pk=study.pk) if not is_sqlite() else study
        row.refresh_from_db()
        # Accuracy up; a Pareto study also latency down (goals.py).
        optuna_study = optuna.create_study(
            storage=get_storage(),
            study_name=row.optuna_name,
            directions=goals.optuna_directions(row.space),
            load_if_exists=True,
        )
        if not row.optuna_ready:
            optuna_study.set_user_attr("platform_study_id", str(row.pk))
            optuna_study.set_user_attr("dataset", row.dataset.name)
            for entry in row.space.get("portfolio") or []:
                optuna_study.enqueue_trial(
                    entry["params"],
                    user_attrs={"portfolio": entry["name"], "portfolio_share": entry["share"],
                                "portfolio_max_epochs": entry.get("max_epochs")},
                )  # fmt: skip
            row.optuna_ready = True
            row.save(update_fields=["optuna_ready"])
    enqueue_reruns(study.pk, optuna_study)
    return optuna_study


def enqueue_reruns(study_id, optuna_study: optuna.Study) -> int:
    """Move the re-runs the user asked for into Optuna's queue (WAITING trials the next ask() takes first)."""
    with transaction.atomic():
        row = Study.objects.select_for_update().get(pk=study_id)
        reruns = list(row.pending_reruns)
        if reruns:
            row.pending_reruns = []
            row.save(update_fields=["pending_reruns"])
    for rerun in reruns:
        # The note (what the re-run changed) goes onto the new trial's row, for the trial table (objective.py).
        note = rerun.get("note") or f"re-run of #{rerun['number']}"
        optuna_study.enqueue_trial(rerun["params"], user_attrs={"rerun_of": rerun["number"], "rerun_note": note})
    return len(reruns)


def wait_for_trainer(client: TrainerClient, study_id, lease: SlotLease | None, timeout: float) -> bool:
    """Block until the training service answers; False if the study is cancelled meanwhile.

    Raises TrainerUnavailable after `timeout` seconds (the Celery task then retries with backoff).
    """
    deadline = time.monotonic() + timeout
    delay = 1.0
    while True:
        try:
            client.health()
            return True
        except TrainerError as e:
            state = Study.objects.filter(pk=study_id).values_list("state", flat=True).first()
            if state not in ACTIVE_STATES or state == Study.State.CANCELLING:
                return False
            if (lease is not None and lease.lost.is_set()) or time.monotonic() > deadline:
                raise TrainerUnavailable(str(e)) from e
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


class SlotRun:
    """The optimize loop of one slot and the decision, after every trial, to go on or stop."""

    def __init__(self, study: Study, slot: int, lease: SlotLease, client: TrainerClient) -> None:
        self.study_id = study.pk
        self.slot = slot
        self.lease = lease
        self.client = client
        self.objective = Objective(study.pk, slot, client, lease)
        self.reason = ""
        self.consecutive_failures = 0
        self.last_error = ""

    def run(self) -> str:
        """Run trials until a stop reason: budget, time, cancelled, failing or lease-lost."""
        study = Study.objects.get(pk=self.study_id)
        self.reason = self.stop_reason(study)
        if self.reason:
            return self.reason
        optuna_study = load_optuna_study(
            study,
            sampler=make_sampler(study, self.slot, Trial.objects.filter(study=study).count()),
            pruner=make_pruner(study),
        )
        remaining = progress.remaining_seconds(study)
        optuna_study.optimize(self.objective, timeout=remaining, catch=(TrialFailed,), callbacks=[self.after_trial])
        if not self.reason:  # optimize's own timeout ended it
            self.reason = "time"
        return self.reason

    def after_trial(self, optuna_study: optuna.Study, frozen: FrozenTrial) -> None:
        """Optuna callback: count failures, then stop the loop if the study should stop."""
        close_old_connections()
        outcome = self.objective.last_outcome
        if frozen.state == TrialState.FAIL and outcome is not None and outcome.state in ("failed", "lost"):
            self.consecutive_failures += 1
            self.last_error = outcome.error
        elif frozen.state in (TrialState.COMPLETE, TrialState.PRUNED):
            self.consecutive_failures = 0
        study = Study.objects.get(pk=self.study_id)
        if study.pending_reruns:  # asked for while the study runs
            enqueue_reruns(study.pk, optuna_study)
        self.reason = self.stop_reason(study)
        if not self.reason and outcome is not None and outcome.state == "lost":
            # The service went away: wait for it here, between trials, instead of failing trial after trial.
            if not wait_for_trainer(self.client, self.study_id, self.lease, conf.TRAINER_WAIT_SECONDS):
                self.reason = "cancelled"
        if self.reason:
            optuna_study.stop()

    def stop_reason(self, study: Study) -> str:
        """Why this slot should stop now ("" to go on)."""
        if study.state not in (Study.State.QUEUED, Study.State.RUNNING):
            return "cancelled"
        if self.lease.lost.is_set():
            return "lease-lost"
        if self.consecutive_failures >= conf.MAX_CONSECUTIVE_FAILURES:
            return "failing"
        if self.objective.out_of_time:
            return "time"
        if study.n_trials is not None:
            running = Trial.objects.filter(study=study, state=Trial.State.RUNNING).count()
            if progress.counted_trials(study) + running >= study.n_trials:
                return "budget"
        remaining = progress.remaining_seconds(study)
        if remaining is not None:
            shortest = progress.min_trial_seconds(study)
            if remaining <= 0 or (shortest is not None and shortest > remaining):
                return "time"
        return ""


def run_slot(study_id, slot: int) -> str:
    """Run one slot of the study to its end; returns why it stopped (for the task's log)."""
    study = Study.objects.filter(pk=study_id).select_related("dataset").first()
    if study is None:
        return "deleted"
    if study.state not in ACTIVE_STATES:
        return f"already {study.state}"
    lease = SlotLease(study_id, slot)
    if not lease.acquire():
        raise SlotBusy(f"slot {slot} of study {study_id} is held by a live task")
    reason = ""
    failure = ""
    try:
        if study.state == Study.State.CANCELLING:
            reason = "cancelled"
        else:
            client = TrainerClient()
            if not wait_for_trainer(client, study_id, lease, conf.TRAINER_WAIT_SECONDS):
                reason = "cancelled"
            else:
                ensure_optuna_study(study)
                records.set_state(study_id, Study.State.RUNNING, only_from=(Study.State.QUEUED,))
                fail_orphans(load_optuna_study(study), study, slot)
                run = SlotRun(study, slot, lease, client)
                reason = run.run()
                failure = run.last_error
    finally:
        lease.release()
    if reason != "lease-lost":
        finish_when_redis_answers(study_id, reason, failure)
    return reason


def finish_when_redis_answers(study_id, reason: str, failure: str) -> None:
    """`finish_if_last` reads the slot leases in Redis: while Redis restarts, wait for it rather than fail the study."""
    deadline = time.monotonic() + conf.REDIS_WAIT_SECONDS
    delay = 1.0
    while True:
        try:
            finish_if_last(study_id, reason, failure)
            return
        except redis.RedisError as e:
            if time.monotonic() > deadline:
                raise
            log.warning("study %s: Redis does not answer (%s); finishing the slot in %.0f s", study_id, e, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
