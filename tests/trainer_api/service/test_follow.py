"""Following a trial's events: a follower wakes when an event is appended, it does not poll."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

from trainer_api.engine.config import EpochReport
from trainer_api.live_trial import LiveTrial
from trainer_api.trials import TrialRegistry


def report(epoch: int) -> EpochReport:
    return EpochReport(epoch=epoch, epochs=5, train_loss=1.0, train_accuracy=0.5, val_loss=1.0, val_accuracy=0.5,
                       seconds=0.1, images_per_second=100.0, learning_rate=0.01)  # fmt: skip


def test_each_event_reaches_a_follower_within_milliseconds(tmp_path):
    registry = TrialRegistry(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", device="cpu")
    work = tmp_path / "data" / "trials" / "k"
    work.mkdir(parents=True)
    trial = LiveTrial(key="k", work_dir=work, request={"config": {"epochs": 5}})
    registry._live["k"] = trial
    appended: list[float] = []

    def train() -> None:  # the training thread: an epoch every 0.3 s, then the end
        for epoch in range(1, 6):
            time.sleep(0.3)
            appended.append(time.monotonic())
            registry._on_epoch(trial, report(epoch))
        registry._finish(trial, "completed", error=None)

    async def follow() -> list[tuple[str, float]]:
        return [(line, time.monotonic()) async for line in registry.follow("k", 0)]

    thread = threading.Thread(target=train)
    thread.start()
    received = asyncio.run(asyncio.wait_for(follow(), timeout=30))
    thread.join(timeout=10)
    epochs = [at for line, at in received if '"epoch"' in line and '"type": "epoch"' in line]
    assert len(epochs) == 5 and '"finished"' in received[-1][0]
    delays = [got - sent for got, sent in zip(epochs, appended, strict=True)]
    # Polling every 0.25 s would average about 0.125 s; a woken follower answers in milliseconds.
    assert statistics.median(delays) < 0.05 and max(delays) < 0.2, delays
    assert not registry._followers, "a follower that ended is forgotten"
