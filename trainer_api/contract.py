"""What the training service promises its clients, declared once: trial states, epoch figures, event types.

Imports neither torch nor FastAPI: the service (`trials.py`, `schemas.py`), the worker
and the web's client (`platform_web/studies/trainer_client.py`) all read it. The engine's
own outcomes (`engine/config.STATUSES`) are the finished states a trial that trained can end in.
"""

from __future__ import annotations

import dataclasses

from trainer_api.engine.config import STATUSES as ENGINE_STATUSES
from trainer_api.engine.config import EpochReport

# Every state a trial on the service can be in, in the order it can go through them.
TRIAL_STATES = ("queued", "running", *ENGINE_STATUSES, "failed")
# The states a trial never leaves.
FINISHED_STATES = frozenset({*ENGINE_STATUSES, "failed"})

# The figures of one epoch, as the engine reports them (engine/config.EpochReport) and the
# web stores them (studies.EpochMetric has a column for each).
EPOCH_FIGURES = tuple(f.name for f in dataclasses.fields(EpochReport) if f.name not in ("epoch", "epochs"))
# The lines of a trial's event stream (GET /v1/trials/{key}/events; schemas.TrialEvent).
EVENT_TYPES = ("epoch", "finished", "heartbeat")
