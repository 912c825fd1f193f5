"""Writing one export's entry in the model folder's `exports.json` (every format the export job makes)."""

from __future__ import annotations

from pathlib import Path

from platform_web.studies.models import Trial
from platform_web.trained_models import services
from platform_web.trained_models.files import read_exports, sha256_of, write_json_atomic


def record_export(trial: Trial, kind: str, target: Path, figures: dict) -> None:
    """Record `target` as the trial's `kind` export: its file, hash, size, the model it came from, and `figures`."""
    folder = target.parent
    with services.file_lock(folder, "exports-record"):  # another format may be recording its export right now
        record = read_exports(folder)
        record[kind] = {
            "file": target.name,
            "sha256": sha256_of(target),
            "size_bytes": target.stat().st_size,
            "source_sha256": trial.model_sha256,
            **figures,
        }
        write_json_atomic(folder / "exports.json", record)
