"""What the training service promises its clients, declared once: the states of a trial on the service.

Imports neither torch nor FastAPI: the service (`trials.py`, `schemas.py`), the worker
and the web's client (`platform_web/studies/trainer_client.py`) all read it. The engine's
own outcomes (`engine/config.STATUSES`) are the finished states a trial that trained can end in.
"""

from __future__ import annotations

from trainer_api.engine.config import STATUSES as ENGINE_STATUSES

# Every state a trial on the service can be in, in the order it can go through them.
TRIAL_STATES = ("queued", "running", *ENGINE_STATUSES, "failed")
# The states a trial never leaves.
FINISHED_STATES = frozenset({*ENGINE_STATUSES, "failed"})
