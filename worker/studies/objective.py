"""The Optuna objective: one trial on the training service, recorded epoch by epoch.

What each ending becomes:

| on the trainer / here                | Django trial | Optuna trial                     |
|--------------------------------------|--------------|----------------------------------|
| completed, early_stopped             | completed    | COMPLETE, best val accuracy      |
| `should_prune()` (we cancel it)      | pruned       | PRUNED                           |
| diverged (NaN loss, chance accuracy) | diverged     | PRUNED, user attr diverged=True  |
| failed with the trainer's message    | failed       | FAIL (not retried: it would fail again) |
| out of GPU memory, retried by the trainer with half the batch | as it ended, the note says so | user attr batch_size_used |
| service gone / restarted mid-trial   | failed       | FAIL, retried as a new trial     |
| study cancelled                      | cancelled    | FAIL                             |
| would overrun the time budget        | skipped      | FAIL, and the slot stops         |

A diverged trial is told to Optuna as pruned, not failed: samplers learn from
pruned trials (their last reported accuracy) and steer away, while failed
trials are ignored. The value of a completed trial is its best validation
accuracy, the same float stored on the Django trial.

Trial keys on the service are `<study id>-<trial number>`. A retry of a lost
trial first asks for the lost trial's key: if the service still runs it, the
retry follows it to the end; if it was interrupted, it resumes from its last
checkpoint; only when that key is cancelled, failed or unknown does the retry
train from scratch under its own key.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import optuna
from django.db import close_old_connections

from platform_web.studies import conf, goals, progress, records
from platform_web.studies.models import Study, Trial
from platform_web.studies.recovery import enqueue_retry
from platform_web.studies.serializers import finite
from platform_web.studies.trainer_client import (
    DatasetRef,
    TrainerBusy,
    TrainerClient,
    TrainerError,
    TrainerRejected,
    TrainerUnavailable,
    UnknownTrainerTrial,
    dataset_ref_for,
)
from platform_web.studies.trial_draw import set_epochs, suggest_config
from trainer_api.schemas import EpochEvent, FinishedEvent, TrialStatus
from worker.studies import budget
from worker.studies.pruning import schedule_points

LEASE_LOST = "This worker lost its slot lease (it stalled or lost Redis); another worker took the study over."


# Sampled trials too long for the time left, in a row, before a slot stops: a cheaper one may follow.
MAX_SKIPS_IN_A_ROW = 3


class TrialFailed(Exception):
    """The trial ended without a result (recorded already); Optuna marks it FAIL and the study goes on."""


@dataclass
class Outcome:
    state: str  # completed, pruned, diverged, failed, lost, cancelled, skipped, abandoned
    error: str = ""
    value: float | None = None
    result: dict = field(default_factory=dict)


class Objective:
    """Callable for `optuna.Study.optimize`: runs one trial of `study_id` on the training service.

    Over 200 lines because one trial's life is one sequence that shares its state (the
    Optuna trial, the row, the trainer key, the last accuracy): size it, start it,
    follow its events, prune or cancel, conclude. The pure parts live elsewhere
    (`budget.py`, `pruning.py`, `records.py`).
    """

    def __init__(self, study_id, slot: int, client: TrainerClient, lease=None) -> None:
        self.study_id = study_id
        self.slot = slot
        self.client = client
        self.lease = lease
        self.last_outcome: Outcome | None = None
        self.space: dict = {}
        self.out_of_time = False
        self.skips_in_a_row = 0
        self._stop_checked_at = 0.0
        self._stopping = False
        self._last_accuracy: dict[int, float] = {}  # trial row id -> its last epoch's validation accuracy

    # --- the trial ------------------------------------------------------------------------------

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        close_old_connections()
        study = Study.objects.select_related("dataset").get(pk=self.study_id)
        self.space = study.space  # the goal: what a completed trial returns, whether the pruner is asked (goals.py)
        trial.set_user_attr("slot", self.slot)
        frozen = trial.study._storage.get_trial(trial._trial_id)
        history = frozen.system_attrs.get("retry_history") or []
        retry_of = history[-1] if history else trial.user_attrs.get("rerun_of")
        # A retry trains exactly what the lost trial trained, seed included.
        seed_number = history[0] if history else trial.number
        params, config = suggest_config(trial, study.space, seed=(study.seed + seed_number) % (2**31))
        own_key = f"{study.pk}-{trial.number}"
        first_key = self._lost_trial_key(study, history[-1]) if history else own_key
        self._stopping = False
        outcome, estimate = None, None
        sized = bool(study.space.get("fit_epochs") and study.timeout_seconds)
        if history:  # the lost trial's exact configuration (its sized epochs too), so its checkpoint resumes
            params, config = self._lost_trial_setup(study, history[-1], params, config)
        elif sized:
            outcome, estimate = self._size_to_budget(study, trial, params, config)
        # A re-run the user asked for says what it re-runs and what changed (a retry copies its trial's user attrs).
        note = "" if history else trial.user_attrs.get("rerun_note", "")
        row = records.trial_started(
            study_id=study.pk, number=trial.number, optuna_trial_id=trial._trial_id, params=params,
            optuna_params=dict(trial.params), config=config, slot=self.slot, key=first_key, retry_of=retry_of,
            estimated_epoch_seconds=estimate, note=note,
        )  # fmt: skip
        try:
            if outcome is None and not history and not sized:  # sized epochs fit by construction
                outcome = self._skip_if_too_long(study, config)
            if outcome is None:
                self.skips_in_a_row = 0
                outcome = self._run(trial, row, study, config, first_key, own_key)
        except BaseException as e:
            records.trial_finished(row, Trial.State.FAILED, error=f"Internal error while running the trial: {e!r}")
            raise
        self.last_outcome = outcome
        return self._conclude(trial, row, outcome)

    def _lost_trial_setup(self, study: Study, number: int, params: dict, config: dict) -> tuple[dict, dict]:
        lost = Trial.objects.filter(study=study, number=number).values("params", "config").first()
        if not lost or not lost["config"]:
            return params, config
        return lost["params"], lost["config"]

    def _size_to_budget(
        self, study: Study, trial: optuna.Trial, params: dict, config: dict
    ) -> tuple[Outcome | None, float | None]:
        """Set the trial's epochs to fill its slice of the time budget (budget.py); an Outcome if none fit.

        Returns (skip outcome or None, the speed probe's seconds per epoch or None).
        """
        try:
            sizing = budget.size_trial(
                study, config, share=trial.user_attrs.get("portfolio_share"),
                max_epochs=trial.user_attrs.get("portfolio_max_epochs"),
                probe=lambda c: budget.probe_epoch_seconds(self.client, study.dataset, c),
            )  # fmt: skip
        except TrainerError:  # no probe now: the low end of the range
            sizing = budget.Sizing(epochs=int(study.space["epochs"][0]))
        if sizing.epochs is None:
            return self._skipped(sizing.message), None
        set_epochs(params, config, study.space, sizing.epochs)
        trial.set_user_attr("epochs", sizing.epochs)
        return None, sizing.probe_seconds

    def _lost_trial_key(self, study: Study, number: int) -> str:
        lost = Trial.objects.filter(study=study, number=number).values_list("trainer_key", flat=True).first()
        return lost or f"{study.pk}-{number}"

    def _skip_if_too_long(self, study: Study, config: dict) -> Outcome | None:
        remaining = progress.remaining_seconds(study)
        estimate = progress.estimate_trial_seconds(study, config)
        if remaining is None or estimate is None or estimate <= remaining:
            return None
        return self._skipped(
            f"Not started: it would take about {estimate:.0f} s and the time budget has {remaining:.0f} s left."
        )

    def _skipped(self, message: str) -> Outcome:
        """A trial that does not fit the time left. A cheaper one may still fit: the slot stops after a few in a row."""
        self.skips_in_a_row += 1
        if self.skips_in_a_row >= MAX_SKIPS_IN_A_ROW:
            self.out_of_time = True
        return Outcome("skipped", error=message)

    def _conclude(self, trial: optuna.Trial, row: Trial, outcome: Outcome) -> float | tuple[float, float]:
        state = outcome.state
        if outcome.result.get("out_of_memory_retry"):  # its value is for this batch size, not the sampled one
            trial.set_user_attr("batch_size_used", outcome.result.get("batch_size"))
        if state == "completed":
            value = outcome.value
            if value is None or not math.isfinite(value):
                value = max(
                    (m for m in row.epochs.values_list("val_accuracy", flat=True) if m is not None), default=0.0
                )
            records.trial_finished(row, Trial.State.COMPLETED, value=value, result=outcome.result)
            try:
                return goals.objective_values(trial, value, row.latency_ms_batch1, self.space)
            except goals.UnmeasuredLatency as e:
                raise TrialFailed(str(e)) from e
        if state == "pruned":
            records.trial_finished(row, Trial.State.PRUNED, result=outcome.result)
            raise optuna.TrialPruned(f"pruned after epoch {row.epochs_done}")
        if state == "diverged":
            trial.set_user_attr("diverged", True)
            records.trial_finished(row, Trial.State.DIVERGED, error=outcome.error, result=outcome.result)
            raise optuna.TrialPruned(outcome.error)
        if state == "lost":
            frozen = trial.study._storage.get_trial(trial._trial_id)
            retry_number = enqueue_retry(trial.study, frozen)
            error = outcome.error + (f" It was retried as trial #{retry_number}." if retry_number is not None else "")
            records.trial_finished(row, Trial.State.FAILED, error=error, result=outcome.result)
            raise TrialFailed(error)
        if state == "cancelled":
            records.trial_finished(row, Trial.State.CANCELLED, error=outcome.error, result=outcome.result)
            raise TrialFailed("cancelled with the study")
        if state == "abandoned":
            records.trial_finished(row, Trial.State.FAILED, error=outcome.error)
            raise TrialFailed(outcome.error)
        if state == "skipped":
            records.trial_finished(row, Trial.State.SKIPPED, error=outcome.error)
            raise TrialFailed(outcome.error)
        records.trial_finished(row, Trial.State.FAILED, error=outcome.error, result=outcome.result)
        raise TrialFailed(outcome.error)

    def _run(self, trial: optuna.Trial, row: Trial, study: Study, config: dict, key: str, own_key: str) -> Outcome:
        dataset_path = dataset_ref_for(study.dataset)
        outcome = self._submit(key, dataset_path, config)
        if isinstance(outcome, Outcome):
            return outcome
        if key != own_key and outcome.state in ("cancelled", "failed") and not outcome.resumable:
            # The lost trial's key cannot be resumed: train this retry from scratch under its own key.
            key = own_key
            row.trainer_key = key
            row.save(update_fields=["trainer_key"])
            outcome = self._submit(key, dataset_path, config)
            if isinstance(outcome, Outcome):
                return outcome
        return self._follow(trial, row, key, dataset_path, config)

    # --- talking to the service ---------------------------------------------------------------------

    def _submit(self, key: str, dataset_path: DatasetRef, config: dict) -> TrialStatus | Outcome:
        """POST the trial, waiting out busy slots and short outages; a TrialStatus, or an Outcome if it ends here."""
        busy_until = time.monotonic() + conf.TRAINER_BUSY_WAIT_SECONDS
        down_until = time.monotonic() + conf.TRAINER_RECONNECT_SECONDS
        delay = 1.0
        while True:
            if self._stop_requested(key=None):
                return Outcome("cancelled", error="Cancelled with the study before it started.")
            try:
                return self.client.submit(key, dataset_path, config)
            except TrainerBusy as e:
                if time.monotonic() > busy_until:
                    return Outcome("failed", error=f"The training service stayed busy for too long: {e}")
                self._sleep(min(e.retry_after, 5.0))
            except TrainerRejected as e:
                return Outcome("failed", error=f"The training service refused this trial: {e}")
            except TrainerUnavailable as e:
                if time.monotonic() > down_until:
                    return Outcome(
                        "lost", error=f"The training service could not be reached to start this trial ({e})."
                    )
                self._sleep(delay)
                delay = min(delay * 2, 5.0)

    def _follow(self, trial: optuna.Trial, row: Trial, key: str, dataset_path: DatasetRef, config: dict) -> Outcome:
        """Read the trial's events to its end: record and report every epoch, prune, notice cancels."""
        offset = 0
        last_contact = time.monotonic()
        while True:
            try:
                for event in self.client.events(key, offset, read_timeout=conf.EVENTS_READ_TIMEOUT_SECONDS):
                    last_contact = time.monotonic()
                    kind = event.type
                    if self._lease_lost():
                        return Outcome("abandoned", error=LEASE_LOST)
                    if kind == "heartbeat":
                        self._stop_requested(key)
                        continue
                    if kind == "epoch":
                        offset = event.offset + 1
                        outcome = self._on_epoch(trial, row, key, event)
                        if outcome is not None:
                            return outcome
                    elif kind == "finished":
                        if event.resumable and not self._stopping and self._resume(key, dataset_path, config):
                            offset = event.offset  # the resumed trial appends from here
                            break
                        return self._finished(event, row)
            except UnknownTrainerTrial:
                return Outcome(
                    "lost", error=f"The training service no longer knows trial {key} (was its folder removed?)."
                )
            except TrainerError:
                pass
            if self._lease_lost():
                return Outcome("abandoned", error=LEASE_LOST)
            if time.monotonic() - last_contact > conf.TRAINER_RECONNECT_SECONDS:
                if self._stopping:  # cancelled while the service was away: nothing to wait for
                    return Outcome("cancelled", error="Cancelled with the study.")
                return Outcome(
                    "lost",
                    error=(
                        f"The training service at {self.client.base_url} stopped answering during epoch "
                        f"{row.epochs_done + 1} of {row.epochs_planned} (no contact for "
                        f"{conf.TRAINER_RECONNECT_SECONDS:.0f} s), so this trial failed; the study goes on "
                        "once the service is back."
                    ),
                )
            self._sleep(1.0)

    def _resume(self, key: str, dataset_path: DatasetRef, config: dict) -> bool:
        """The service restarted during the trial: POST the key again, which resumes it from its checkpoint."""
        try:
            self.client.submit(key, dataset_path, config)
            return True
        except TrainerError:
            return False

    def _on_epoch(self, trial: optuna.Trial, row: Trial, key: str, event: EpochEvent) -> Outcome | None:
        records.epoch_recorded(row, event.model_dump())
        epoch = event.epoch
        losses = [event.train_loss, event.val_loss]
        if any(isinstance(v, float | int) and not math.isfinite(v) for v in losses if v is not None):
            self._cancel(key)
            return Outcome(
                "diverged",
                error=f"The loss became NaN or infinite in epoch {epoch}: the learning rate is probably too high.",
            )
        accuracy = finite(event.val_accuracy)
        accuracy = accuracy if accuracy is not None else 0.0
        epochs = int(event.epochs or row.epochs_planned or epoch)
        previous = self._last_accuracy.get(row.pk)
        if previous is None:  # the epoch before (a resumed trial), else chance level
            before = row.epochs.filter(epoch=epoch - 1).values_list("val_accuracy", flat=True).first()
            previous = before if before is not None else 1.0 / max(2, len(row.study.dataset.classes or []))
        self._last_accuracy[row.pk] = accuracy
        # Asked after every step, not once per epoch: successive halving files a trial at a rung with the
        # value of its last step, so a short schedule asked once per epoch would be filed with a later point.
        prune = False
        # A Pareto study has two objectives, and Optuna prunes single-objective studies only.
        points = [] if goals.is_pareto(self.space) else schedule_points(epoch, epochs, accuracy, previous)
        for step, value in points:
            trial.report(value, step=step)
            if trial.should_prune():
                prune = True
                break
        if prune:
            self._cancel(key)
            return Outcome("pruned")
        self._stop_requested(key)
        return None

    def _finished(self, event: FinishedEvent, row: Trial) -> Outcome:
        state = event.state
        result = event.result.model_dump() if event.result else {}
        error = event.error or result.get("message") or ""
        if state in ("completed", "early_stopped"):
            return Outcome("completed", value=finite(result.get("best_val_accuracy")), result=result)
        if state == "diverged":
            return Outcome("diverged", error=error or "The training diverged.", result=result)
        if state == "cancelled":
            self._stop_checked_at = 0.0  # the web cancels on the service first: look at the study now
            if self._stop_requested(key=None):
                return Outcome("cancelled", error="Cancelled with the study.", result=result)
            return Outcome("failed", error="The trial was cancelled on the training service.", result=result)
        if event.resumable:
            return Outcome("lost", error=f"The training service stopped during this trial: {error}", result=result)
        return Outcome("failed", error=error or "The training service reported a failure without a message.")

    def _cancel(self, key: str) -> None:
        try:
            self.client.cancel(key)
        except TrainerError:
            pass  # the service is down: the trial stops with it

    # --- stopping ----------------------------------------------------------------------------------

    def _stop_requested(self, key: str | None) -> bool:
        """True once the study is being cancelled (checked at most once a second); cancels `key` once."""
        if self._stopping:
            return True
        now = time.monotonic()
        if now - self._stop_checked_at < 1.0:
            return False
        self._stop_checked_at = now
        state = Study.objects.filter(pk=self.study_id).values_list("state", flat=True).first()
        if state in (Study.State.CANCELLING, Study.State.CANCELLED, None):
            self._stopping = True
            if key is not None:
                self._cancel(key)
        return self._stopping

    def _lease_lost(self) -> bool:
        return self.lease is not None and self.lease.lost.is_set()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
