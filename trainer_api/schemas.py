"""Request and response bodies of the training service (its HTTP contract, see trainer_api/README.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainer_api.contract import TRIAL_STATES

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


class Architecture(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    description: str = ""
    min_input_size: int
    param_count: int = Field(description="parameters for `num_classes` outputs at `input_size`")
    num_classes: int
    input_size: int


class TrialConfigIn(BaseModel):
    """Hyperparameters of one trial: the engine's TrialConfig fields, with their allowed ranges."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    architecture: str = Field(min_length=1, max_length=64)
    width: int = Field(0, ge=0, le=4096, description="small_resnet / bn_cnn channels (0 = the architecture's default)")
    depth: int = Field(0, ge=0, le=64, description="small_resnet / bn_cnn blocks (0 = the architecture's default)")
    input_size: int = Field(32, ge=1, le=2048)
    batch_size: int = Field(64, ge=1, le=65536)
    epochs: int = Field(10, ge=1, le=10000)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    scheduler: Literal["onecycle", "cosine", "step", "constant"] = "cosine"
    warmup_epochs: int = Field(0, ge=0, le=10000)
    augment: bool = True
    augment_strength: float = Field(0.5, ge=0, le=1)
    early_stopping_patience: int = Field(0, ge=0, le=10000, description="0 = off")
    diverge_check_epochs: int = Field(
        2, ge=0, le=10000, description="stop as diverged when accuracy is still at chance after this many epochs"
    )
    seed: int = Field(0, ge=0, le=2**63 - 1)

    @model_validator(mode="after")
    def _warmup_shorter_than_training(self) -> TrialConfigIn:
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be less than epochs ({self.epochs})")
        return self


class TrialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN, description="the caller's id for this trial; the same key never trains twice")
    dataset_path: str = Field(
        min_length=1, max_length=4096,
        description="a dataset folder holding manifest.json: absolute, or relative to the parent of TRAINER_DATA_DIR",
    )  # fmt: skip
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


class EpochReport(BaseModel):
    model_config = ConfigDict(extra="allow")

    epoch: int
    epochs: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    seconds: float | None = None
    images_per_second: float | None = None
    learning_rate: float | None = None


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


class TrialEvent(BaseModel):
    """One line of GET /v1/trials/{key}/events (documentation only; lines are written by trials.py)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["epoch", "finished", "heartbeat"]
    offset: int | None = Field(None, description="absent on heartbeats")


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
