"""`run_trial`: one trial from dataset folder to saved model, resumable from its checkpoint."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .architectures import IMAGENET_MEAN, IMAGENET_STD, architecture_options, build_model, count_parameters
from .artefact import measure_latencies, model_metadata, write_model_files
from .batches import BatchFeeder, batch_count
from .cache import DatasetTensors, prepare_dataset
from .checkpoint import (
    atomic_write_json,
    cpu_copy,
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
    seed_everything,
    sha256_file,
    stored_result,
)
from .config import EpochReport, TrialConfig, TrialResult
from .devices import ComputePlan, compute_plan, cpu_threads, resolve_device, torch_threads
from .errors import ConfigError, DatasetError
from .loop import (
    TrainingState,
    TrialCancelled,
    TrialDiverged,
    class_weights_of,
    evaluate,
    train_one_epoch,
    training_loss,
)
from .memory_retry import MemoryRetry, run_with_memory_retry
from .optim import build_optimizer, build_scheduler
from .weights import freeze_backbone

CHANCE_MARGIN = 0.01
# An epoch whose mean training loss exceeds this many times ln(classes) has blown up.
EXPLODED_LOSS_FACTOR = 100.0
_FINAL_STATUSES = ("completed", "early_stopped", "diverged")


@dataclass
class Progress:
    """Everything about a trial's course that the checkpoint must carry besides the tensors' states."""

    epoch: int = 0
    history: list[EpochReport] = field(default_factory=list)
    best_epoch: int | None = None
    best_accuracy: float = -1.0
    best_loss_at_best: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    lowest_val_loss: float = math.inf
    epochs_without_improvement: int = 0
    train_seconds: float = 0.0


def run_trial(
    config: TrialConfig,
    dataset_dir: str | Path,
    work_dir: str | Path,
    cache_dir: str | Path,
    device: str = "auto",
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    weights_dir: str | Path | None = None,
    download_weights: bool = False,
    num_threads: int | None = None,
) -> TrialResult:
    """Train one trial and save its best epoch's model; see trainer_api/README.md for the contract.

    Resumes from `work_dir/checkpoint.pt` when present (same config and dataset, else
    ConfigError); returns the stored result at once when the trial already ended. Raises
    ConfigError / DatasetError for settings or data it cannot use; the four statuses are
    completed, early_stopped, cancelled (resumable) and diverged. A `pretrained` config starts from
    `weights.find_weights(weights_dir)` (downloaded only with `download_weights`), else ConfigError.
    Out of device memory, it starts again once with half the batch size (memory_retry.py), and
    raises OutOfDeviceMemory if that runs out too.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    finished = stored_result(work_dir, config)
    if finished is not None:
        return finished
    plan = compute_plan(resolve_device(device))
    with torch_threads(cpu_threads(num_threads)):
        if plan.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        data = prepare_dataset(dataset_dir, cache_dir, config.input_size)
        hooks = (on_epoch or (lambda report: None), should_stop or (lambda: False))
        return run_with_memory_retry(
            lambda retry: _Trial(config, data, plan, work_dir, (weights_dir, download_weights), retry).run(*hooks),
            work_dir=work_dir, batch_size=min(config.batch_size, len(data.train_index)), device=plan.device,
        )  # fmt: skip


class _Trial:
    """The pieces of one running trial; `run` is the epoch loop.

    Over 200 lines because the loop's parts (model, optimiser, scheduler, scaler,
    checkpoints, the best state) change together every epoch; the steps themselves
    are in `loop.py`, `optim.py`, `checkpoint.py` and `artefact.py`.
    """

    def __init__(
        self, config: TrialConfig, data: DatasetTensors, plan: ComputePlan, work_dir: Path, weights: tuple,
        retry: MemoryRetry | None = None,
    ) -> None:  # fmt: skip
        self.config, self.data, self.plan, self.work_dir = config, data, plan, work_dir
        n_train = len(data.train_index)
        if n_train < 2:
            raise DatasetError("Training needs at least two images in the training split")
        self.batch_size = min(config.batch_size, n_train)
        self.notes = []
        if self.batch_size < config.batch_size:
            self.notes.append(
                f"batch size {config.batch_size} was clamped to {self.batch_size}, the training split's size"
            )
        self.retry = retry  # this trial ran out of device memory once: it trains with half the batch size
        if retry is not None:
            self.batch_size = retry.batch_size
            self.notes.append(retry.note())
        generator = seed_everything(config.seed)  # before building the model: its init draws from torch's RNG
        self.options = architecture_options(config.architecture, config.width, config.depth)
        self.model, self.weights_file = build_model(
            config.architecture, len(data.classes), config.input_size, options=self.options,
            pretrained=config.pretrained, weights_dir=weights[0], download=weights[1],
        )  # fmt: skip
        self.mean, self.std = (IMAGENET_MEAN, IMAGENET_STD) if config.pretrained else (data.mean, data.std)
        layout = torch.channels_last if plan.channels_last else torch.preserve_format
        self.model.to(plan.device, memory_format=layout)
        optimizer = build_optimizer(self.model, config)
        steps = batch_count(n_train, self.batch_size)
        self.state = TrainingState(
            optimizer=optimizer,
            scheduler=build_scheduler(optimizer, config, steps),
            scaler=torch.amp.GradScaler(plan.device.type) if plan.use_grad_scaler else None,
            criterion=training_loss(
                config.class_weighting, data.labels[data.train_index], len(data.classes), config.label_smoothing
            ).to(plan.device),
            generator=generator,
        )
        self.progress = Progress()
        self.feeder = BatchFeeder(data, plan, self.mean, self.std)

    def run(self, on_epoch: Callable[[EpochReport], None], should_stop: Callable[[], bool]) -> TrialResult:
        verdict = self._resume()
        self._write_config()
        config, progress = self.config, self.progress
        if verdict is not None:  # ended before, but died before writing result.json
            return self._finish(*verdict)
        status, message = "completed", ""
        try:
            for epoch in range(progress.epoch + 1, config.epochs + 1):
                started = time.perf_counter()
                report = self._epoch(epoch, should_stop)
                status, message = self._verdict(report)
                progress.train_seconds += time.perf_counter() - started
                started = time.perf_counter()
                ended = status != "completed" or epoch == config.epochs
                self._checkpoint(verdict=(status, message or self._completed_message()) if ended else None)
                progress.train_seconds += time.perf_counter() - started  # checkpoint writes count as training time
                on_epoch(report)
                if status != "completed":
                    break
        except TrialCancelled:
            status = "cancelled"
            message = (
                f"Cancelled during epoch {progress.epoch + 1}; running it again resumes after epoch {progress.epoch}"
            )
        except TrialDiverged as e:
            status = "diverged"
            message = (
                f"Training diverged: the loss became NaN or infinite in epoch {progress.epoch + 1} (at {e}); "
                f"try a lower learning rate than {config.learning_rate:g}"
            )
        if status == "completed":
            message = self._completed_message()
        return self._finish(status, message)

    def _completed_message(self) -> str:
        epochs = self.config.epochs
        return f"Completed {epochs} epoch{'s' if epochs != 1 else ''}"

    def _epoch(self, epoch: int, should_stop: Callable[[], bool]) -> EpochReport:
        config, data = self.config, self.data
        if config.pretrained:  # the first freeze_epochs epochs train only the new last layer
            freeze_backbone(self.model, config.architecture, frozen=epoch <= config.freeze_epochs)
        train = train_one_epoch(
            self.model,
            self.feeder,
            data.train_index,
            self.batch_size,
            self.state,
            augment=config.augment,
            strength=config.augment_strength,
            should_stop=should_stop,
        )
        val = evaluate(self.model, self.feeder, data.val_index, self.batch_size, should_stop=should_stop)
        report = EpochReport(
            epoch=epoch,
            epochs=config.epochs,
            train_loss=train.loss,
            train_accuracy=train.accuracy,
            val_loss=val.loss,
            val_accuracy=val.accuracy,
            seconds=train.seconds + val.seconds,
            images_per_second=train.images / train.seconds if train.seconds > 0 else 0.0,
            learning_rate=self.state.optimizer.param_groups[0]["lr"],
        )
        progress = self.progress
        progress.epoch = epoch
        progress.history.append(report)
        if val.accuracy > progress.best_accuracy or (
            val.accuracy == progress.best_accuracy and val.loss < progress.best_loss_at_best
        ):
            progress.best_epoch, progress.best_accuracy, progress.best_loss_at_best = epoch, val.accuracy, val.loss
            progress.best_state = cpu_copy(self.model.state_dict())
        if val.loss < progress.lowest_val_loss:
            progress.lowest_val_loss, progress.epochs_without_improvement = val.loss, 0
        else:
            progress.epochs_without_improvement += 1
        return report

    def _verdict(self, report: EpochReport) -> tuple[str, str]:
        """completed (go on), early_stopped or diverged, with the message a user reads."""
        config, progress = self.config, self.progress
        patience = config.early_stopping_patience
        start_loss = math.log(len(self.data.classes))  # cross-entropy of an untrained model
        if report.train_loss > EXPLODED_LOSS_FACTOR * start_loss:
            return "diverged", (
                f"Training diverged: the training loss reached {report.train_loss:.3g} in epoch {report.epoch} "
                f"(an untrained model starts near {start_loss:.2f}); try a lower learning rate than "
                f"{config.learning_rate:g}"
            )
        if config.diverge_check_epochs and report.epoch == config.diverge_check_epochs:
            chance = self._chance_accuracy()
            if progress.best_accuracy <= chance + CHANCE_MARGIN:
                return "diverged", (
                    f"Training diverged: validation accuracy is still at chance level ({progress.best_accuracy:.3f}, "
                    f"chance {chance:.3f}) after {report.epoch} epochs; try another learning rate or architecture"
                )
        if patience and progress.epochs_without_improvement >= patience:
            return "early_stopped", (
                f"Stopped early after epoch {report.epoch}: validation loss did not improve for {patience} "
                f"epoch(s) (lowest {progress.lowest_val_loss:.4f})"
            )
        return "completed", ""

    def _chance_accuracy(self) -> float:
        """What always answering one class scores: 1/classes, or the largest class's share of validation."""
        val_labels = self.data.labels[self.data.val_index]
        majority = torch.bincount(val_labels, minlength=len(self.data.classes)).max().item() / len(val_labels)
        return max(1.0 / len(self.data.classes), majority)

    def _checkpoint(self, *, verdict: tuple[str, str] | None) -> None:
        progress, state = self.progress, self.state
        save_checkpoint(
            self.work_dir / "checkpoint.pt",
            {
                "config": self.config.to_dict(),
                "dataset_hash": self.data.content_hash,
                "epoch": progress.epoch,
                "verdict": list(verdict) if verdict else None,  # (status, message) once the trial has ended
                "model": self.model.state_dict(),
                "optimizer": state.optimizer.state_dict(),
                "scheduler": state.scheduler.state_dict(),
                "scaler": state.scaler.state_dict() if state.scaler is not None else None,
                "rng": rng_states(state.generator),
                "history": [report.to_dict() for report in progress.history],
                "best": {
                    "epoch": progress.best_epoch,
                    "accuracy": progress.best_accuracy,
                    "loss": progress.best_loss_at_best,
                    "state_dict": progress.best_state,
                },
                "lowest_val_loss": progress.lowest_val_loss,
                "epochs_without_improvement": progress.epochs_without_improvement,
                "train_seconds": progress.train_seconds,
            },
        )

    def _resume(self) -> tuple[str, str] | None:
        """Restore the checkpoint's state, if there is one; returns its verdict when the trial had ended."""
        checkpoint = load_checkpoint(self.work_dir / "checkpoint.pt")
        if checkpoint is None:
            return None
        if not self.config.same_as(checkpoint["config"]) or checkpoint["dataset_hash"] != self.data.content_hash:
            raise ConfigError(
                f"{self.work_dir} holds the checkpoint of a different trial configuration or dataset; "
                "use a new work folder for a new trial"
            )
        state = self.state
        self.model.load_state_dict(checkpoint["model"])
        state.optimizer.load_state_dict(checkpoint["optimizer"])
        state.scheduler.load_state_dict(checkpoint["scheduler"])
        if state.scaler is not None and checkpoint["scaler"] is not None:
            state.scaler.load_state_dict(checkpoint["scaler"])
        restore_rng_states(checkpoint["rng"], state.generator)
        best = checkpoint["best"]
        self.progress = Progress(
            epoch=checkpoint["epoch"],
            history=[EpochReport(**item) for item in checkpoint["history"]],
            best_epoch=best["epoch"],
            best_accuracy=best["accuracy"],
            best_loss_at_best=best["loss"],
            best_state=cpu_copy(best["state_dict"]) if best["state_dict"] is not None else None,
            lowest_val_loss=checkpoint["lowest_val_loss"],
            epochs_without_improvement=checkpoint["epochs_without_improvement"],
            train_seconds=checkpoint["train_seconds"],
        )
        return tuple(checkpoint["verdict"]) if checkpoint.get("verdict") else None

    def _write_config(self) -> None:
        plan = self.plan
        atomic_write_json(
            self.work_dir / "config.json",
            {
                "config": self.config.to_dict(),
                "batch_size_used": self.batch_size,
                "out_of_memory_retry": self.retry.to_dict() if self.retry else None,
                "device": str(plan.device),
                "amp_dtype": str(plan.amp_dtype).removeprefix("torch.") if plan.amp_dtype else None,
                "channels_last": plan.channels_last,
                "num_threads": torch.get_num_threads(),
                "dataset_hash": self.data.content_hash,
                "dataset_cache": str(self.data.cache_path),
                "class_names": self.data.classes,
                "train_images": len(self.data.train_index),
                "val_images": len(self.data.val_index),
                "pretrained": self.config.pretrained,
                "class_weights": class_weights_of(self.state.criterion),
                "weights_file": str(self.weights_file) if self.weights_file else None,
                "weights_sha256": sha256_file(self.weights_file) if self.weights_file else None,
                "mean": list(self.mean),
                "std": list(self.std),
                "resumed_after_epoch": self.progress.epoch,
                "torch_version": torch.__version__,
            },
        )

    def _finish(self, status: str, message: str) -> TrialResult:
        progress, config = self.progress, self.config
        if progress.best_epoch is not None:
            message += f"; best validation accuracy {progress.best_accuracy:.4f} at epoch {progress.best_epoch}"
        if self.notes:
            message += "; " + "; ".join(self.notes)
        result = TrialResult(
            status=status,
            message=message,
            epochs_run=progress.epoch,
            train_seconds=progress.train_seconds,
            param_count=count_parameters(self.model),
            class_names=list(self.data.classes),
            history=list(progress.history),
            batch_size=self.batch_size,
            out_of_memory_retry=self.retry.to_dict() if self.retry else None,
        )
        if progress.best_state is not None:
            result.best_epoch = progress.best_epoch
            result.best_val_accuracy = progress.best_accuracy
            result.best_val_loss = progress.best_loss_at_best
            metadata = model_metadata(
                architecture=config.architecture,
                architecture_options=self.options,
                class_names=self.data.classes,
                input_size=config.input_size,
                mean=self.mean,
                std=self.std,
                hyperparameters=config.to_dict(),
                epoch=progress.best_epoch,
                val_accuracy=progress.best_accuracy,
                val_loss=progress.best_loss_at_best,
                pretrained=config.pretrained,
                dataset_hash=self.data.content_hash,
            )
            for key, value in write_model_files(self.work_dir, progress.best_state, metadata).items():
                setattr(result, key, value)
            if status != "cancelled":  # a cancelled trial should let go of the device at once
                self.model.load_state_dict(progress.best_state)
                result.latency_ms_batch1, result.latency_ms_batch64 = measure_latencies(
                    self.model, config.input_size, self.plan
                )
        result_path = self.work_dir / "result.json"
        if status in _FINAL_STATUSES:
            atomic_write_json(result_path, {"config": config.to_dict(), "result": result.to_dict()})
        else:
            result_path.unlink(missing_ok=True)
        return result
