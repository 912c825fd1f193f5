"""Pretrained weights: which architectures have them on this machine, where, and how a file gets there.

Two places are searched, in this order, for a torchvision architecture `name`:

1. the weights folder (`TRAINER_WEIGHTS_DIR`): `<name>.pth` or `<name>.safetensors`, put there by
   `python manage.py import_weights FILE --arch NAME` (which calls `import_weights` below);
2. torchvision's own cache, `$TORCH_HOME/hub/checkpoints/` (default `~/.cache/torch/hub/checkpoints/`),
   under the file names torchvision downloads to (`resnet18-f37072fd.pth`: the name in the URL of each
   of the architecture's `get_model_weights(name)` entries, the DEFAULT one first).

Nothing is downloaded unless the caller asks (`download_weights`, which the training service
calls only with `TRAINER_DOWNLOAD_WEIGHTS=1`). Files are read with `torch.load(weights_only=True)`
(or safetensors), never as arbitrary pickles.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import safetensors.torch
import torch
import torchvision
from torch import nn

from .catalog import ARCHITECTURES, get_spec
from .checkpoint import atomic_write
from .errors import ConfigError

SUFFIXES = (".pth", ".safetensors")
IMPORT_HINT = "python manage.py import_weights FILE --arch {name}"
# torchvision's DenseNet files predate its module names ("norm.1" for "norm1"); torchvision renames
# the keys when it loads them (torchvision/models/densenet.py), so do we.
_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def pretrainable() -> list[str]:
    """The architectures that can start from pretrained weights: torchvision's ImageNet networks."""
    return [name for name, spec in ARCHITECTURES.items() if spec.torchvision]


def hub_checkpoints_dir() -> Path:
    """torchvision's download folder: `$TORCH_HOME/hub/checkpoints` (read from the environment at each call)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_file_names(name: str) -> list[str]:
    """The file names torchvision saves `name`'s weights under, its DEFAULT weights first."""
    entries = torchvision.models.get_model_weights(name)
    ordered = [entries.DEFAULT, *(entry for entry in entries if entry is not entries.DEFAULT)]
    return [entry.url.rsplit("/", 1)[-1] for entry in ordered]


def find_weights(name: str, weights_dir: str | Path | None) -> Path | None:
    """The weights file a pretrained `name` starts from, or None: the weights folder first, then torchvision's cache."""
    if not get_spec(name).torchvision:
        return None
    candidates = [Path(weights_dir) / f"{name}{suffix}" for suffix in SUFFIXES] if weights_dir else []
    candidates += [hub_checkpoints_dir() / file_name for file_name in torchvision_file_names(name)]
    return next((path for path in candidates if path.is_file()), None)


def available_weights(weights_dir: str | Path | None) -> dict[str, Path]:
    """{architecture: its weights file} for every architecture with weights on this machine."""
    found = {name: find_weights(name, weights_dir) for name in pretrainable()}
    return {name: path for name, path in found.items() if path is not None}


def missing_weights_message(name: str, weights_dir: str | Path | None) -> str:
    """Why a pretrained `name` cannot start, and the three ways to fix it."""
    if not get_spec(name).torchvision:
        return f"{name} has no pretrained weights: only {', '.join(pretrainable())} can start from pretrained weights"
    folder = f"TRAINER_WEIGHTS_DIR ({weights_dir})" if weights_dir else "TRAINER_WEIGHTS_DIR (unset)"
    return (
        f"No pretrained weights for {name} on the training service: add a file with "
        f"`{IMPORT_HINT.format(name=name)}` (it goes into {folder}), put torchvision's "
        f"{torchvision_file_names(name)[0]} into {hub_checkpoints_dir()}, or allow downloads with "
        "TRAINER_DOWNLOAD_WEIGHTS=1; or train it from scratch (pretrained off)"
    )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a state_dict saved with torch.save (read with weights_only=True) or safetensors.

    A dict that holds its state_dict under "state_dict" or "model" (a checkpoint, a Tune model.pth)
    is unwrapped. Raises ConfigError saying what is wrong with the file.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            return safetensors.torch.load_file(str(path))
        except Exception as e:  # safetensors raises its own SafetensorError and OSError
            raise ConfigError(f"{path} is not a readable safetensors file: {e}") from e
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise ConfigError(f"Cannot read {path}: {e}") from e
    except Exception as e:  # pickle.UnpicklingError for objects weights_only refuses, RuntimeError for non-zip files
        raise ConfigError(
            f"{path} does not load with torch.load(weights_only=True), so it is not a plain state_dict "
            f"(it may hold pickled Python objects, which are never loaded here: {str(e).splitlines()[0]}). "
            "Save the weights alone: torch.save(model.state_dict(), 'weights.pth'), or use a .safetensors file."
        ) from e
    if isinstance(loaded, dict):
        for key in ("state_dict", "model"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ConfigError(
            f"{path} holds a {type(loaded).__name__}, not a state_dict (a dict of tensor names to tensors): "
            "save it with torch.save(model.state_dict(), 'weights.pth')"
        )
    return loaded


def _head_prefix(name: str) -> str:
    return ".".join(str(step) for step in get_spec(name).head) + "."


def load_backbone(model: nn.Module, name: str, state_dict: dict[str, torch.Tensor], source: str | Path) -> None:
    """Copy `state_dict` into `model` (a torchvision `name`), all but its classifier head (the model keeps its own).

    Every other tensor must be there with the right shape: ConfigError names what does not fit.
    """
    if name == "densenet121":
        state_dict = {_DENSENET_KEY.sub(r"\1\2", key): value for key, value in state_dict.items()}
    head = _head_prefix(name)
    body = {key: value for key, value in state_dict.items() if not key.startswith(head)}
    expected = {key: value.shape for key, value in model.state_dict().items() if not key.startswith(head)}
    missing = sorted(set(expected) - set(body))
    unexpected = sorted(set(body) - set(expected))
    wrong = sorted(key for key in set(expected) & set(body) if tuple(body[key].shape) != tuple(expected[key]))
    if missing or unexpected or wrong:
        problems = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", wrong)):
            if keys:
                problems.append(f"{len(keys)} {what} (e.g. {', '.join(keys[:3])})")
        raise ConfigError(
            f"{source} does not fit {name}: {'; '.join(problems)}. Is it the state_dict of a torchvision {name}? "
            f"Pass the architecture it was saved from with --arch"
        )
    model.load_state_dict(body, strict=False)


def freeze_backbone(model: nn.Module, name: str, *, frozen: bool) -> None:
    """Stop (or restart) gradients to every layer of a torchvision `name` but its classifier head.

    Frozen layers keep their weights; their batch-norm statistics still follow the new images.
    """
    head = _head_prefix(name)
    for key, parameter in model.named_parameters():
        parameter.requires_grad_(not frozen or key.startswith(head))


def check_weights(path: str | Path, name: str) -> None:
    """Raise ConfigError unless `path` loads safely and fits `name` (all of it, or all but the classifier head)."""
    if not get_spec(name).torchvision:
        raise ConfigError(f"{name} cannot take pretrained weights; choose one of {', '.join(pretrainable())}")
    state_dict = read_state_dict(path)
    model = getattr(torchvision.models, name)(weights=None)
    load_backbone(model, name, state_dict, path)


def import_weights(source: str | Path, name: str, weights_dir: str | Path) -> Path:
    """Check `source` (`check_weights`), then copy it to `<weights_dir>/<name>.pth|.safetensors` atomically.

    Another file for `name` (the other suffix) is removed, so the folder holds one per architecture.
    """
    source = Path(source)
    if not source.is_file():
        raise ConfigError(f"No file at {source}")
    check_weights(source, name)
    folder = Path(weights_dir)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".safetensors" if source.suffix == ".safetensors" else ".pth"
    target = folder / f"{name}{suffix}"
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))
    for other in SUFFIXES:
        if other != suffix:
            (folder / f"{name}{other}").unlink(missing_ok=True)
    return target


def download_weights(name: str) -> Path:
    """Download torchvision's DEFAULT ImageNet weights of `name` into its cache (`hub_checkpoints_dir`).

    Only for callers that allow downloads (TRAINER_DOWNLOAD_WEIGHTS=1); ConfigError when it fails.
    """
    entry = torchvision.models.get_model_weights(name).DEFAULT
    folder = hub_checkpoints_dir()
    try:
        torch.hub.load_state_dict_from_url(entry.url, model_dir=str(folder), progress=False, check_hash=True)
    except Exception as e:  # URLError, HTTPError, a hash mismatch: the message is what the user needs
        raise ConfigError(f"Downloading the weights of {name} from {entry.url} failed: {e}") from e
    return folder / os.path.basename(entry.url)
