"""Which models the inference service loads before anyone asks: the best of each recently finished study.

The service looks at the trial folders the training service writes (shared data folder),
at start and then every INFERENCE_SCAN_SECONDS; no other part has to tell it that a
study finished, so a missed message or a restart cannot leave it cold. A trial's key is
`<study id>-<number>` (worker/studies/objective.py), so its study is the key without
its last part; a trial counts once its `result.json` exists (completed or early
stopped, with a model file), and a study's time is that of its latest such trial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

USABLE = ("completed", "early_stopped")


@dataclass(frozen=True)
class FinishedTrial:
    study: str
    model: Path
    accuracy: float
    finished_at: float


class RecentModels:
    """Reads trial folders under `data_dir/trials/`; a result file is parsed again only when it changes."""

    def __init__(self, data_dir: Path) -> None:
        self.trials_dir = Path(data_dir) / "trials"
        self._seen: dict[Path, tuple[int, FinishedTrial | None]] = {}

    def best_of_recent_studies(self, count: int) -> list[Path]:
        """The best model (highest validation accuracy) of each of the `count` most recent studies, newest first."""
        if count <= 0:
            return []
        best: dict[str, FinishedTrial] = {}
        latest: dict[str, float] = {}
        for trial in self._finished_trials():
            latest[trial.study] = max(latest.get(trial.study, 0.0), trial.finished_at)
            if trial.study not in best or trial.accuracy > best[trial.study].accuracy:
                best[trial.study] = trial
        recent = sorted(latest, key=lambda study: latest[study], reverse=True)[:count]
        return [best[study].model for study in recent]

    def _finished_trials(self) -> list[FinishedTrial]:
        found, seen = [], {}
        try:
            folders = list(self.trials_dir.iterdir())
        except OSError:  # no trial yet
            return []
        for folder in folders:
            result_file = folder / "result.json"
            try:
                mtime = result_file.stat().st_mtime_ns
            except OSError:
                continue
            cached = self._seen.get(result_file)
            trial = cached[1] if cached and cached[0] == mtime else _read(folder, result_file, mtime)
            seen[result_file] = (mtime, trial)
            if trial is not None:
                found.append(trial)
        self._seen = seen
        return found


def _read(folder: Path, result_file: Path, mtime: int) -> FinishedTrial | None:
    try:
        result = json.loads(result_file.read_text()).get("result") or {}
    except (OSError, ValueError, AttributeError):
        return None
    accuracy = result.get("best_val_accuracy")
    model = folder / "model.pth"
    if result.get("status") not in USABLE or not isinstance(accuracy, int | float) or not model.is_file():
        return None
    study = folder.name.rsplit("-", 1)[0] if "-" in folder.name else folder.name
    return FinishedTrial(study, model, float(accuracy), mtime / 1e9)
