"""Request and response bodies of the training service (its HTTP contract, see trainer_api/README.md)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model, model_validator

from trainer_api.contract import EPOCH_FIGURES, TRIAL_STATES
from trainer_api.engine.hyperparameters import HYPERPARAMETERS, Hyperparameter
from trainer_api.file_transfer import DATASET_ID_PATTERN

# A trial key becomes a folder name: letters, digits, "_", "-", "." and never starting with a dot.
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"

TrialState = Literal[TRIAL_STATES]  # trainer_api/contract.py


class Health(BaseModel):
    status: str
    device: str = Field(description='"cpu", or the CUDA device\'s name')
    device_type: Literal["cpu", "cuda"]
    device_memory_bytes: int | None = Field(None, description="total memory of the CUDA device")
    torch: str
    torchvision: str
    python: str
    slots_busy: int
    slots_total: int
    files: str = Field(
        "shared folder",
        description='where missing datasets come from and trial files go: "shared folder" (none are fetched), '
        '"the platform at <url>" or "object storage bucket <name>" (file_transfer.py)',
    )


class Architecture(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    min_input_size: int
    param_count: int = Field(description="parameters for `num_classes` outputs at `input_size`")
    num_classes: int
    input_size: int
    pretrained_weights: bool = Field(False, description="a trial with pretrained=true can start (weights found)")
    weights_source: Literal["weights folder", "torchvision cache", "download"] | None = Field(
        None, description="where its weights come from: TRAINER_WEIGHTS_DIR, $TORCH_HOME/hub/checkpoints, a download"
    )


class _TrialConfigChecks(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _warmup_shorter_than_training(self):
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be less than epochs ({self.epochs})")
        return self


def _config_field(parameter: Hyperparameter):
    """A request field from the engine's declaration: its type, default, bounds and help."""
    if parameter.choices:
        return (Literal[parameter.choices], Field(parameter.default, description=parameter.help))
    if parameter.name == "architecture":
        return (str, Field(min_length=1, max_length=64, description=parameter.help))
    bounds = {}
    if parameter.low is not None:
        bounds["gt" if parameter.low_open else "ge"] = parameter.low
    if parameter.high is not None and math.isfinite(parameter.high):  # (no finite number is above infinity)
        bounds["lt" if parameter.high_open else "le"] = parameter.high
    return (parameter.type, Field(parameter.default, description=parameter.help, **bounds))


# Hyperparameters of one trial: the engine's TrialConfig fields, with their allowed ranges
# (trainer_api/engine/hyperparameters.py declares them).
TrialConfigIn = create_model(
    "TrialConfigIn", __base__=_TrialConfigChecks, **{p.name: _config_field(p) for p in HYPERPARAMETERS}
)


class TrialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, description="the caller's id for this trial; the same key never trains twice")
    dataset_path: str = Field(
        min_length=1, max_length=4096,
        description="a dataset folder holding manifest.json: absolute, or relative to the parent of TRAINER_DATA_DIR",
    )  # fmt: skip
    dataset_id: str | None = Field(
        default=None, pattern=DATASET_ID_PATTERN,
        description="the platform's id of the dataset: a service without the folder downloads it (file_transfer.py)",
    )  # fmt: skip
    dataset_hash: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="the dataset's content hash, checked on a download"
    )
    config: TrialConfigIn


class SpeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: TrialConfigIn
    num_classes: int = Field(ge=2, le=100_000, description="outputs of the model to time")


class SpeedReport(BaseModel):
    """What one configuration's training and evaluation steps reach on this service's device."""

    train_images_per_second: float
    eval_images_per_second: float
    batch_size: int
    device: str


class _EpochBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    epoch: int
    epochs: int


# One epoch's figures (trainer_api/contract.EPOCH_FIGURES, from the engine's EpochReport); null when not measured.
EpochReport = create_model("EpochReport", __base__=_EpochBase, **{name: (float | None, None) for name in EPOCH_FIGURES})


class TrialResult(BaseModel):
    """The engine's TrialResult; file paths are relative to TRAINER_DATA_DIR."""

    model_config = ConfigDict(extra="allow")

    status: str
    message: str | None = None
    best_epoch: int | None = None
    best_val_accuracy: float | None = None
    best_val_loss: float | None = None
    epochs_run: int | None = None
    train_seconds: float | None = None
    latency_ms_batch1: float | None = None
    latency_ms_batch64: float | None = None
    param_count: int | None = None
    model_path: str | None = None
    model_size_bytes: int | None = None
    model_sha256: str | None = None
    safetensors_path: str | None = None
    safetensors_sha256: str | None = None
    class_names: list[str] = Field(default_factory=list)
    history: list[EpochReport] = Field(default_factory=list)
    batch_size: int | None = Field(None, description="the batch size it trained with (clamped, or halved below)")
    out_of_memory_retry: dict[str, int | str] | None = Field(
        None, description="it ran out of device memory and was retried once with half the batch size: "
        "{failed_batch_size, batch_size, error}",
    )  # fmt: skip


class TrialStatus(BaseModel):
    key: str
    state: TrialState
    epochs_done: int = Field(description="the last epoch reported so far")
    epochs: int | None = Field(None, description="the epochs asked for")
    error: str | None = None
    result: TrialResult | None = None
    cancel_requested: bool = False
    resumable: bool = Field(
        False, description="true when the service stopped during this trial: POST the same key to resume it"
    )


class EpochEvent(EpochReport):
    """An epoch finished: its figures, and the offset of this line in the stream."""

    type: Literal["epoch"]
    offset: int


class FinishedEvent(BaseModel):
    """The trial's last line: its final state, result or error; `resumable` when the service stopped under it."""

    model_config = ConfigDict(extra="allow")

    type: Literal["finished"]
    offset: int
    state: TrialState
    result: TrialResult | None = None
    error: str | None = None
    epochs_done: int = 0
    resumable: bool = False


class HeartbeatEvent(BaseModel):
    """Sent while nothing else happens, so a reader can tell a quiet trial from a lost connection."""

    type: Literal["heartbeat"]


# One line of GET /v1/trials/{key}/events (trainer_api/contract.EVENT_TYPES), told apart by `type`.
TrialEvent = Annotated[EpochEvent | FinishedEvent | HeartbeatEvent, Field(discriminator="type")]
TRIAL_EVENT = TypeAdapter(TrialEvent)


class Prediction(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_name: str = Field(alias="class")
    index: int = Field(description="the class's index in class_names")
    probability: float


class ImagePredictions(BaseModel):
    filename: str
    predictions: list[Prediction] | None = None
    error: str | None = None


class PredictResponse(BaseModel):
    model: str
    class_names: list[str]
    results: list[ImagePredictions]


class ErrorMessage(BaseModel):
    detail: str


class InferenceHealth(BaseModel):
    status: str
    role: Literal["inference"] = "inference"
    device: str = Field(description='"cpu", or the CUDA device\'s name')
    device_type: Literal["cpu", "cuda"]
    torch: str
    torchvision: str
    python: str
    models_loaded: int
    forward_passes: int = Field(description="forward passes run since the service started")
    images: int = Field(description="images classified since the service started")
    batch_window_ms: float
    max_batch: int


class LoadedModels(BaseModel):
    models: list[str] = Field(description="models in memory, least recently used first")
    preloaded: list[str] = Field(description="the best model of each recent study, loaded before any request")
    recent_batch_sizes: list[int] = Field(description="images per forward pass, the latest 100, oldest first")
