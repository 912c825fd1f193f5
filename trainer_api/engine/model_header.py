"""A trained model's metadata read without torch: from the JSON header of its `model.safetensors`.

The engine writes the same metadata into `model.pth` and into the safetensors header
(`artefact.write_model_files`); pages that only show a model's classes, size and
settings read it here, so the web process never loads torch.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Any

from .errors import EngineError

# The key of the safetensors header's `__metadata__` that holds the model's metadata as JSON.
METADATA_KEY = "tune_metadata"
# A safetensors header larger than this is not one the engine wrote.
MAX_HEADER_BYTES = 100 * 1024 * 1024


def read_header_metadata(safetensors_path: str | Path) -> dict[str, Any]:
    """The model metadata in a `.safetensors` file's header; EngineError when it has none."""
    path = Path(safetensors_path)
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > MAX_HEADER_BYTES:
                raise EngineError(f"{path.name} cannot be read as a model file: its header is {length} bytes")
            header = json.loads(handle.read(length))
        return json.loads(header["__metadata__"][METADATA_KEY])
    except (OSError, struct.error, ValueError, KeyError, TypeError) as e:
        raise EngineError(f"{path.name} cannot be read as a model file: no model metadata in its header") from e


def check_pth_archive(pth_path: str | Path) -> None:
    """EngineError unless `pth_path` is a PyTorch archive (what `torch.save` writes: a zip with a pickle)."""
    path = Path(pth_path)
    try:
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("data.pkl") for name in archive.namelist()):
                return
    except (OSError, zipfile.BadZipFile):
        pass
    raise EngineError(f"{path.name} cannot be read as a model file: it is not a PyTorch archive")
