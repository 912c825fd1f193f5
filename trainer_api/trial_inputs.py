"""What a trial request names, checked before anything trains: its dataset folder and its settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer_api import engine
from trainer_api.engine.errors import DatasetError
from trainer_api.engine.manifest import read_manifest
from trainer_api.errors import DatasetNotFound, InvalidTrial


def resolve_dataset(dataset_path: str, *, data_dir: Path, datasets_dir: Path) -> Path:
    """The dataset folder (absolute, or relative to the data folder's parent), checked to hold a manifest.

    Only folders inside `datasets_dir` are read. Anything else gets the same answer as a
    folder that does not exist, naming only the path the caller sent, so the answer
    never tells which server paths exist.
    """
    root = datasets_dir.resolve()
    folder = Path(dataset_path)
    if not folder.is_absolute():
        folder = data_dir.parent / folder
    try:
        folder = folder.resolve()
        found = folder.is_relative_to(root) and folder != root and folder.is_dir()
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL byte
        found = False
    if not found:
        raise DatasetNotFound(
            f"No dataset at {dataset_path!r} in the service's dataset folder: datasets are read only from "
            "TRAINER_DATASETS_DIR (default: datasets/ beside TRAINER_DATA_DIR). Is the path right and the volume shared?"
        )
    try:
        read_manifest(folder)
    except DatasetError as e:
        raise DatasetNotFound(f"{e} (is the dataset ready?)") from e
    return folder


def build_config(config: dict[str, Any], *, weights: tuple[Path | None, bool] | None = None) -> Any:
    """The engine's TrialConfig for validated request fields; InvalidTrial names what to change.

    With `weights` = (weights folder, downloads allowed), a pretrained config is refused unless
    its architecture has a weights file (or may download one), with how to add one.
    """
    name = config.get("architecture")
    if name not in engine.ARCHITECTURES:
        known = ", ".join(sorted(engine.ARCHITECTURES))
        raise InvalidTrial(f"Unknown architecture {name!r}; known architectures: {known}.")
    minimum = engine.ARCHITECTURES[name].min_input_size
    if config.get("input_size", 0) < minimum:
        raise InvalidTrial(
            f"input_size {config.get('input_size')} is too small for {name}: it needs at least {minimum} px."
        )
    try:
        trial_config = engine.TrialConfig.from_dict(config)
    except (engine.ConfigError, TypeError, ValueError) as e:
        raise InvalidTrial(f"Invalid trial configuration: {e}") from e
    if weights is not None and trial_config.pretrained:
        weights_dir, download = weights
        if not download and engine.find_weights(name, weights_dir) is None:
            raise InvalidTrial(engine.missing_weights_message(name, weights_dir) + ".")
    return trial_config
