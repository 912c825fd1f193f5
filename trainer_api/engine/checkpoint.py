"""Atomic files, trial checkpoints and the random number generators' states."""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import TrialConfig, TrialResult
from .errors import ConfigError

CHECKPOINT_FORMAT = 1


def atomic_write(path: Path, write) -> None:
    """Call `write(temporary_path)`, flush it to disk, then rename it over `path`.

    Readers see the old file or the complete new one, never a partial one.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # the web app (maybe another user) serves these files
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2), encoding="utf-8"))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global RNGs; return the trial's data generator.

    The data generator (CPU) drives shuffling and augmentation, so its stream does not depend
    on how many random numbers model code draws from the global RNG.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def rng_states(generator: torch.Generator) -> dict[str, Any]:
    """Every RNG's state as plain values and tensors (loadable with weights_only=True)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "data": generator.get_state(),
    }


def restore_rng_states(states: dict[str, Any], generator: torch.Generator) -> None:
    """Inverse of `rng_states`."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in states["cuda"]])
    generator.set_state(states["data"].cpu())


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint dict atomically (see `trial.py` for its keys)."""
    atomic_write(path, lambda tmp: torch.save({"format": CHECKPOINT_FORMAT, **checkpoint}, tmp))


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path` with every tensor on the CPU, or None when there is none.

    `load_state_dict` of models and optimisers moves tensors to the parameters' device;
    RNG states must stay CPU tensors.
    """
    if not path.is_file():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        return None
    return checkpoint


def cpu_copy(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy of a state_dict (safe to keep while training goes on)."""
    return {key: value.detach().to("cpu", copy=True).contiguous() for key, value in state_dict.items()}


def stored_result(work_dir: Path, config: TrialConfig) -> TrialResult | None:
    """The result of a trial that already ended in `work_dir` with this config, if any."""
    path = work_dir / "result.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not config.same_as(stored.get("config")):
        raise ConfigError(
            f"{work_dir} holds a finished trial with a different configuration; use a new work folder for a new trial"
        )
    return TrialResult.from_dict(stored["result"])
