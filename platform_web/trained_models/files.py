"""Where a trial's model files live, what they are called when downloaded, and their checksums.

Artefacts are written by the training service under `settings.TRAINER_DATA_DIR`
(the shared media volume, or sent there by a trainer without it; with object storage,
a trial file missing on disk is fetched from the bucket first: `data_path`); the
exports made here are cached next to them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.text import slugify

from platform_web.studies.models import Trial
from platform_web.trained_models.errors import ModelFileDamaged, ModelUnavailable
from platform_web.trainer_files.storage import local_trial_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileKind:
    """One downloadable format."""

    kind: str
    label: str
    suffix: str
    cached_name: str | None  # file name next to model.pth for exports; None for the trainer's own files
    help: str


FILE_KINDS: dict[str, FileKind] = {
    k.kind: k
    for k in (
        FileKind("pth", "PyTorch (.pth)", ".pth", None, "state_dict + metadata; torch.load(weights_only=True)"),
        FileKind("safetensors", "safetensors", ".safetensors", None, "the same weights, no pickle"),
        FileKind(
            "torchscript", "TorchScript", ".torchscript.pt", "model.torchscript.pt", "torch.jit.load, no model code"
        ),
        FileKind("onnx", "ONNX", ".onnx", "model.onnx", "onnxruntime and other runtimes; batch size is dynamic"),
        FileKind(
            "onnx_int8",
            "ONNX INT8",
            ".int8.onnx",
            "model.int8.onnx",
            "the ONNX model quantised to 8-bit integers for onnxruntime on the CPU: smaller and faster",
        ),  # fmt: skip
    )
}
EXPORT_KINDS = ("torchscript", "onnx", "onnx_int8")
EXPORTS_RECORD = "exports.json"
# The most accuracy (a fraction of the validation split: 0.01 is one point) the INT8 model may lose and still be
# offered; the worker applies it (worker/int8_export.py), the page says it.
INT8_MAX_ACCURACY_DROP = 0.01


@dataclass(frozen=True)
class ModelFile:
    """A file the model page offers (or offers to make)."""

    kind: FileKind
    path: Path | None
    download_name: str
    size_bytes: int | None
    sha256: str | None
    details: dict

    @property
    def available(self) -> bool:
        return self.path is not None


def data_path(relative: str) -> Path:
    """A path the trainer recorded, resolved under TRAINER_DATA_DIR; anything escaping it is refused.

    A trial file missing there is fetched from object storage first, when it is configured.
    """
    root = Path(settings.TRAINER_DATA_DIR).resolve()
    path = (root / relative).resolve()
    if not relative or not path.is_relative_to(root):
        raise ModelUnavailable("This trial's model path is not inside the training data folder.")
    return local_trial_file(path)


def model_path(trial: Trial) -> Path:
    """The trial's `.pth`, which must exist on disk."""
    if not trial.model_path:
        raise ModelUnavailable("This trial did not keep a model (it did not complete).")
    path = data_path(trial.model_path)
    if not path.is_file():
        raise ModelUnavailable("This trial's model file is missing from the training data folder.")
    return path


def model_dir(trial: Trial) -> Path:
    """The folder holding the trial's `.pth`; exports, evaluation and thumbnails are cached here."""
    return model_path(trial).parent


def architecture_of(trial: Trial) -> str:
    """The architecture the trial trained."""
    return str(trial.params.get("architecture") or "model")


def download_name(trial: Trial, kind: str) -> str:
    """`<study>-<architecture>-acc0.934-trial7.pth`: what the file is, readable in a downloads folder."""
    study = slugify(trial.study.name) or "study"
    arch = slugify(architecture_of(trial)).replace("-", "_") or "model"
    accuracy = f"-acc{trial.value:.3f}" if trial.value is not None else ""
    return f"{study}-{arch}{accuracy}-trial{trial.number}{FILE_KINDS[kind].suffix}"


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_exports(folder: Path) -> dict:
    """The record of exports made for the model in `folder` ({kind: {file, sha256, size_bytes, ...}})."""
    try:
        return json.loads((folder / EXPORTS_RECORD).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to a temporary name then rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(tmp, path)


def trainer_file(trial: Trial, kind: str) -> ModelFile:
    """The `.pth` or `.safetensors` the trainer wrote, with the checksum it recorded."""
    relative, recorded = (
        (trial.model_path, trial.model_sha256) if kind == "pth" else (trial.safetensors_path, trial.safetensors_sha256)
    )
    path = data_path(relative) if relative else None
    if path is not None and not path.is_file():
        path = None
    return ModelFile(
        kind=FILE_KINDS[kind],
        path=path,
        download_name=download_name(trial, kind),
        size_bytes=path.stat().st_size if path else None,
        sha256=recorded or None,
        details={},
    )


def export_file(trial: Trial, kind: str) -> ModelFile:
    """A cached export, or an unavailable entry when it has not been made yet."""
    folder = model_dir(trial)
    record = read_exports(folder).get(kind)
    path = folder / FILE_KINDS[kind].cached_name
    if record is None or not path.is_file() or record.get("source_sha256") != trial.model_sha256:
        return ModelFile(FILE_KINDS[kind], None, download_name(trial, kind), None, None, {})
    return ModelFile(FILE_KINDS[kind], path, download_name(trial, kind), record["size_bytes"], record["sha256"], record)


def model_files(trial: Trial) -> list[ModelFile]:
    """Every format of the trial's model, made or not, in the order the page lists them."""
    return [trainer_file(trial, "pth"), trainer_file(trial, "safetensors")] + [
        export_file(trial, kind) for kind in EXPORT_KINDS
    ]


def file_for_download(trial: Trial, kind: str) -> ModelFile:
    """The file behind a download link, or ModelUnavailable saying what to do."""
    model_path(trial)  # a trial without its .pth offers nothing
    entry = trainer_file(trial, kind) if kind in ("pth", "safetensors") else export_file(trial, kind)
    if not entry.available:
        if kind in EXPORT_KINDS:
            raise ModelUnavailable(
                f"The {entry.kind.label} file has not been exported yet: export it on the model page."
            )
        raise ModelUnavailable(f"This trial has no {entry.kind.label} file.")
    if entry.sha256 and sha256_of(entry.path) != entry.sha256:
        log.error("%s of trial %s does not match its recorded SHA-256 %s", entry.path, trial.pk, entry.sha256)
        again = "Export it again" if kind in EXPORT_KINDS else "Re-run the trial"
        raise ModelFileDamaged(
            f"The {entry.kind.label} file on the server no longer matches the SHA-256 recorded when it was written "
            f"(it was changed or damaged), so it was not sent. {again} to get a good copy."
        )
    return entry
