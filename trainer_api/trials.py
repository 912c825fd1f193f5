"""Trials on this service: start one in a background thread, follow its events, cancel it.

Each trial lives in `TRAINER_DATA_DIR/trials/<key>/`: the engine's checkpoint and
model files plus state.json and events.ndjson (trial_files.py). A key is trained
at most once: a second POST of a running or finished key returns what exists.
A trial the service was running when it stopped (killed, restarted) reads as
`failed` with `resumable: true` until its key is POSTed again, which resumes it
from the engine's last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from trainer_api import engine
from trainer_api.contract import FINISHED_STATES
from trainer_api.errors import DatasetNotFound, SlotsBusy, UnknownTrial
from trainer_api.live_trial import LiveTrial, status_of
from trainer_api.remote_files import RemoteFiles
from trainer_api.schemas import TRIAL_EVENT
from trainer_api.transfer_clients import TransferError
from trainer_api.trial_files import append_event, read_events, read_state, rewrite_events, to_plain, write_state
from trainer_api.trial_inputs import build_config, resolve_dataset

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0


class TrialRegistry:
    """Every trial of this service; at most `max_trials` train at once (one per GPU).

    Over 200 lines because it owns one lock over the slots, the live trials and their
    threads: starting, resuming, following, cancelling and finishing all take it. The
    files of a trial are in `trial_files.py`.
    """

    def __init__(
        self, *, data_dir: Path, cache_dir: Path, device: str = "auto", max_trials: int = 1,
        weights_dir: Path | None = None, num_threads: int | None = None, datasets_dir: Path | None = None,
        download_weights: bool = False, remote: RemoteFiles | None = None,
    ) -> None:  # fmt: skip
        self.data_dir = Path(data_dir).absolute()
        self.datasets_dir = Path(datasets_dir or self.data_dir.parent / "datasets").absolute()
        self.cache_dir = Path(cache_dir).absolute()
        self.device = device
        self.max_trials = max(1, max_trials)
        self.weights_dir = weights_dir
        self.download_weights = download_weights  # TRAINER_DOWNLOAD_WEIGHTS: may a pretrained trial download?
        self.remote = remote  # without the shared media folder: datasets in, trial files out (remote_files.py)
        # CPU threads per trial: OMP_NUM_THREADS when the operator set it, else the engine uses every core.
        self.num_threads = num_threads or _env_threads()
        self._live: dict[str, LiveTrial] = {}
        self._speeds: dict[tuple, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._speed_lock = threading.Lock()
        # Followers waiting for a trial's next event: (their event loop, their asyncio.Event).
        self._followers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._closing = False
        self.heartbeat_seconds = HEARTBEAT_SECONDS

    # --- reading -----------------------------------------------------------------------------------

    def work_dir(self, key: str) -> Path:
        return self.data_dir / "trials" / key

    def status(self, key: str) -> dict[str, Any]:
        """The trial's TrialStatus; UnknownTrial when this service never saw the key."""
        with self._lock:
            trial = self._live.get(key)
            if trial is not None:
                return status_of(trial.stored(), live=not trial.interrupted)
        stored = read_state(self.work_dir(key))
        if stored is None:
            raise UnknownTrial(f"No trial with key {key!r} on this service.")
        return status_of(stored, live=False)

    def busy_slots(self) -> int:
        """Trials queued or running now."""
        with self._lock:
            return sum(1 for t in self._live.values() if not t.interrupted)

    def events_since(self, key: str, offset: int) -> tuple[list[dict[str, Any]], bool]:
        """Events from `offset` on, and whether no more will come (the trial finished or was interrupted)."""
        with self._lock:
            trial = self._live.get(key)
            if trial is not None and not trial.interrupted:
                return trial.events[offset:], False
        events = read_events(self.work_dir(key))
        if not any(event["type"] == "finished" for event in events):
            events.append(self._finished_event(self.status(key), len(events)))
        return events[offset:], True

    async def follow(self, key: str, offset: int) -> AsyncIterator[str]:
        """NDJSON lines of the trial's events from `offset` until its `finished` event.

        While no event comes, a `{"type": "heartbeat"}` line (no offset) every `heartbeat_seconds`
        lets the client tell a quiet trial from a dead connection.
        """
        follower = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._followers.add(follower)
        try:
            last_line = time.monotonic()
            while True:
                follower[1].clear()  # before reading: an event appended after the read sets it again
                events, done = self.events_since(key, offset)
                for event in events:
                    yield json.dumps(event) + "\n"
                    offset = event["offset"] + 1
                    last_line = time.monotonic()
                if done:
                    return
                quiet = self.heartbeat_seconds - (time.monotonic() - last_line)
                if quiet <= 0:
                    yield '{"type": "heartbeat"}\n'
                    last_line = time.monotonic()
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(follower[1].wait(), timeout=quiet)
        finally:
            with self._lock:
                self._followers.discard(follower)

    def _wake_followers(self) -> None:
        """Tell every follower that events were appended or a trial stopped (call with the lock held)."""
        for loop, event in self._followers:
            with contextlib.suppress(RuntimeError):  # a loop that has closed has no follower left to wake
                loop.call_soon_threadsafe(event.set)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free, from the running trials' epoch times (30 s without any)."""
        with self._lock:
            return self._estimate_retry_after()

    def _estimate_retry_after(self) -> int:
        estimates = []
        for trial in self._live.values():
            seconds = [e.get("seconds") or 0.0 for e in trial.events if e["type"] == "epoch"]
            epochs = trial.request["config"].get("epochs") or 1
            if seconds and not trial.interrupted:
                estimates.append((epochs - trial.epochs_done) * sum(seconds) / len(seconds))
        return int(min(3600, max(1, math.ceil(min(estimates))))) if estimates else 30

    # --- changing ----------------------------------------------------------------------------------

    def start(self, key: str, dataset_path: str, config: dict[str, Any], dataset_id: str | None = None,
              dataset_hash: str | None = None) -> tuple[dict[str, Any], bool]:  # fmt: skip
        """Start the trial `key` unless it exists; returns (TrialStatus, whether training started now).

        Without the dataset's folder, a service that can download it (`remote`, and the caller
        named `dataset_id`) starts the trial and downloads it first.
        """
        existing = self._existing(key)
        if existing is None and self.remote is not None and self.remote.fetch_for_resume(key, self.work_dir(key)):
            existing = self._existing(key)  # interrupted on another host: resumes here from its checkpoint
        if existing is not None:
            return existing
        try:
            dataset_dir = resolve_dataset(dataset_path, data_dir=self.data_dir, datasets_dir=self.datasets_dir)
        except DatasetNotFound:
            if self.remote is None or not dataset_id:
                raise
            dataset_dir = None
        trial_config = build_config(config, weights=(self.weights_dir, self.download_weights))
        with self._lock:
            existing = self._existing(key, locked=True)
            if existing is not None:
                return existing
            self._check_slot()
            request = {"dataset_path": str(dataset_dir or dataset_path), "dataset_id": dataset_id,
                       "dataset_hash": dataset_hash, "config": dict(config)}  # fmt: skip
            trial = LiveTrial(key=key, work_dir=self.work_dir(key), request=request)
            rewrite_events(_made(trial.work_dir), [])
            return self._launch(trial, trial_config, dataset_dir), True

    def measure_speed(self, config: dict[str, Any], num_classes: int) -> dict[str, Any]:
        """The engine's speed probe for `config` (cached per model, size, batch and optimiser).

        Refused with SlotsBusy while every slot trains: timing then would slow the trial and
        measure a shared device.
        """
        trial_config = build_config(config)
        key = (trial_config.architecture, trial_config.width, trial_config.depth, trial_config.input_size,
               trial_config.batch_size, trial_config.optimizer, num_classes)  # fmt: skip
        with self._speed_lock:  # one probe at a time: two would time each other
            cached = self._speeds.get(key)
            if cached is not None:
                return cached
            with self._lock:
                self._check_slot()
            report = engine.measure_speed(trial_config, num_classes, self.device, num_threads=self.num_threads)
            self._speeds[key] = report.to_dict()
            return self._speeds[key]

    def cancel(self, key: str) -> dict[str, Any]:
        """Ask a running trial to stop (within one batch); an interrupted one is marked cancelled."""
        with self._lock:
            trial = self._live.get(key)
            if trial is not None and not trial.interrupted:
                trial.cancel_requested = True
                trial.stop.set()
                write_state(trial.work_dir, trial.stored())
                return status_of(trial.stored(), live=True)
            # Not running here (under the lock, so a POST cannot resume it meanwhile).
            stored = read_state(self.work_dir(key))
            if stored is None:
                raise UnknownTrial(f"No trial with key {key!r} on this service.")
            if stored.get("state") not in FINISHED_STATES:  # interrupted: cancelled, so a later POST does not resume it
                stored.update(state="cancelled", cancel_requested=True, updated_at=time.time())
                self._record_finish(self.work_dir(key), stored, read_events(self.work_dir(key)))
            return status_of(stored, live=False)

    async def wait_finished(self, key: str, timeout: float) -> dict[str, Any]:
        """The trial's status once it has finished, or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        status = self.status(key)
        while status["state"] not in FINISHED_STATES and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            status = self.status(key)
        return status

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every running trial within one batch, leaving it resumable; wait up to `timeout` seconds."""
        with self._lock:
            self._closing = True
            trials = list(self._live.values())
            for trial in trials:
                trial.interrupted = not trial.cancel_requested
                trial.stop.set()
            self._wake_followers()
        deadline = time.monotonic() + timeout
        for trial in trials:
            if trial.thread is not None:
                trial.thread.join(max(0.0, deadline - time.monotonic()))

    def forget_cache(self, content_hash: str) -> int:
        """Delete the decoded-image cache files of one dataset (every input size); how many went."""
        removed = 0
        for path in self.cache_dir.glob(f"v*-{content_hash}-*"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    # --- inside ------------------------------------------------------------------------------------

    def _existing(self, key: str, locked: bool = False) -> tuple[dict[str, Any], bool] | None:
        """(status, started) for a key that exists: running here, finished, or interrupted (resumed now)."""
        if not locked:
            with self._lock:
                return self._existing(key, locked=True)
        trial = self._live.get(key)
        if trial is not None and not trial.interrupted:
            return status_of(trial.stored(), live=True), False
        stored = read_state(self.work_dir(key))
        if stored is None:
            return None
        if stored.get("state") in FINISHED_STATES:
            return status_of(stored, live=False), False
        return self._resume(key, stored), True

    def _resume(self, key: str, stored: dict[str, Any]) -> dict[str, Any]:
        """Start an interrupted trial again with its stored request; the engine resumes from its checkpoint."""
        self._check_slot()
        request = stored["request"]
        trial = LiveTrial(key=key, work_dir=self.work_dir(key), request=request)
        trial.events = [e for e in read_events(trial.work_dir) if e["type"] == "epoch"]
        trial.events = [dict(e, offset=i) for i, e in enumerate(trial.events)]
        trial.epochs_done = max([int(stored.get("epochs_done") or 0)] + [e["epoch"] for e in trial.events])
        rewrite_events(trial.work_dir, trial.events)
        log.info("resuming trial %s after epoch %s", key, trial.epochs_done)
        return self._launch(trial, build_config(request["config"]), Path(request["dataset_path"]))

    def _check_slot(self) -> None:
        if self._closing:
            raise SlotsBusy("The training service is shutting down; try again once it is back.", retry_after=10)
        busy = sum(1 for t in self._live.values() if not t.interrupted)
        if busy >= self.max_trials:
            seconds = self._estimate_retry_after()
            raise SlotsBusy(
                f"All {self.max_trials} training slot(s) are busy; retry in about {seconds} s.", retry_after=seconds
            )

    def _launch(self, trial: LiveTrial, trial_config: Any, dataset_dir: Path | None) -> dict[str, Any]:
        self._live[trial.key] = trial
        write_state(trial.work_dir, trial.stored())
        trial.thread = threading.Thread(
            target=self._train, args=(trial, trial_config, dataset_dir), name=f"trial-{trial.key}", daemon=True
        )
        trial.thread.start()
        return status_of(trial.stored(), live=True)

    def _train(self, trial: LiveTrial, trial_config: Any, dataset_dir: Path | None) -> None:
        try:
            with self._lock:
                trial.state = "running"
                write_state(trial.work_dir, trial.stored())
            dataset_dir = trial.dataset_dir = self._dataset_of(trial, dataset_dir)
            trial.sends_files = self.remote is not None and self.remote.sends_files_for(dataset_dir)
            with self.remote.using(dataset_dir) if self.remote else contextlib.nullcontext():
                result = engine.run_trial(
                    trial_config, dataset_dir=dataset_dir, work_dir=trial.work_dir, cache_dir=self.cache_dir,
                    device=self.device, on_epoch=lambda report: self._on_epoch(trial, report),
                    should_stop=trial.stop.is_set, weights_dir=self.weights_dir,
                    download_weights=self.download_weights, num_threads=self.num_threads,
                )  # fmt: skip
            if trial.interrupted and result.status == "cancelled":
                return  # stopped by shutdown: state.json still says running, so the next POST resumes it
            state = result.status if result.status in FINISHED_STATES else "failed"
            error = None if state in ("completed", "early_stopped", "cancelled") else (result.message or state)
            plain_result = to_plain(result, self.data_dir)
            if trial.sends_files:  # the platform has the model before anyone hears the trial ended
                self.remote.send_finished(trial.key, trial.work_dir)
        except Exception as e:  # the engine's failure is the trial's, never the service's
            log.exception("trial %s failed", trial.key)
            self._finish(trial, "failed", error=str(e) or type(e).__name__)
            return
        self._finish(trial, state, error=error, result=plain_result)

    def _dataset_of(self, trial: LiveTrial, dataset_dir: Path | None) -> Path:
        """The trial's dataset folder: in the dataset folder, else downloaded (`remote`); DatasetNotFound if neither."""
        dataset_id = trial.request.get("dataset_id")
        try:
            return resolve_dataset(str(dataset_dir or trial.request["dataset_path"]), data_dir=self.data_dir,
                                   datasets_dir=self.datasets_dir)  # fmt: skip
        except DatasetNotFound:
            if self.remote is None or not dataset_id:
                raise
        with self._lock:
            in_use = [t.dataset_dir for t in self._live.values() if t.dataset_dir is not None]
        try:
            return self.remote.dataset_folder(dataset_id, trial.request.get("dataset_hash"), in_use)
        except TransferError as e:
            raise DatasetNotFound(str(e)) from e

    def _on_epoch(self, trial: LiveTrial, report: Any) -> None:
        with self._lock:
            event = {"type": "epoch", **to_plain(report, self.data_dir), "offset": len(trial.events)}
            TRIAL_EVENT.validate_python(event)  # what the stream promises (schemas.TrialEvent)
            append_event(trial.work_dir, event)
            trial.events.append(event)
            trial.epochs_done = int(report.epoch)
            write_state(trial.work_dir, trial.stored())
            self._wake_followers()
        if trial.sends_files:
            self.remote.after_epoch(trial.key, trial.work_dir)

    def _finish(self, trial: LiveTrial, state: str, error: str | None, result: dict | None = None) -> None:
        with self._lock:
            trial.state = state
            stored = dict(trial.stored(), error=error, result=result)
            try:
                self._record_finish(trial.work_dir, stored, trial.events)
            finally:  # even when the disk refuses the write, the slot is freed
                self._live.pop(trial.key, None)
                self._wake_followers()
        if trial.sends_files:
            try:
                self.remote.send_finished(trial.key, trial.work_dir, names=("state.json", "events.ndjson"))
            except TransferError as e:
                log.warning("trial %s: the platform may not know it ended: %s", trial.key, e)

    def _record_finish(self, work_dir: Path, stored: dict[str, Any], events: list[dict[str, Any]]) -> None:
        write_state(work_dir, stored)
        event = self._finished_event(status_of(stored, live=False), len(events))
        append_event(work_dir, event)
        events.append(event)

    @staticmethod
    def _finished_event(status: dict[str, Any], offset: int) -> dict[str, Any]:
        fields = {name: status[name] for name in ("state", "result", "error", "epochs_done", "resumable")}
        event = {"type": "finished", **fields, "offset": offset}
        TRIAL_EVENT.validate_python(event)  # what the stream promises (schemas.TrialEvent)
        return event


def _env_threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder
