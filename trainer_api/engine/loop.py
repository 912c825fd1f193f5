"""One training epoch and one evaluation pass (the loop the trial runner repeats)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .batches import BatchFeeder
from .devices import ComputePlan


class TrialCancelled(Exception):
    """`should_stop()` answered True."""


class TrialDiverged(Exception):
    """The training loss stopped being a finite number."""


@dataclass(frozen=True)
class PassStats:
    """Mean loss, accuracy, image count and wall time of one pass over a split."""

    loss: float
    accuracy: float
    images: int
    seconds: float


@dataclass
class TrainingState:
    """What one training pass changes besides the model: optimiser, schedule, scaler, data RNG."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    criterion: nn.Module
    generator: torch.Generator


def training_loss(weighting: str, train_labels: torch.Tensor, classes: int, label_smoothing: float) -> nn.Module:
    """The training criterion: cross-entropy, with class weights when `weighting` is "balanced".

    Balanced weights are n / (classes x n_c) for a class of n_c of the n training images (a
    class with none gets the largest weight of the others), so the mean weight per image is 1
    and the loss keeps its scale while a rare class counts as much in total as a common one.
    """
    if weighting == "none":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    counts = torch.bincount(train_labels, minlength=classes).double()
    weights = counts.sum() / (classes * counts.clamp(min=1))
    if (counts == 0).any():
        weights[counts == 0] = weights[counts > 0].max()
    return nn.CrossEntropyLoss(weight=weights.float(), label_smoothing=label_smoothing)


def class_weights_of(criterion: nn.Module) -> list[float] | None:
    """The per-class loss weights of a criterion from `training_loss` (None: unweighted), for config.json."""
    weight = getattr(criterion, "weight", None)
    return None if weight is None else [round(float(w), 6) for w in weight]


def autocast(plan: ComputePlan):
    """torch.autocast for the plan's dtype, or a no-op context when training in float32."""
    if plan.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=plan.device.type, dtype=plan.amp_dtype)


def train_one_epoch(
    model: nn.Module,
    feeder: BatchFeeder,
    index: torch.Tensor,
    batch_size: int,
    state: TrainingState,
    *,
    augment: bool,
    strength: float,
    should_stop: Callable[[], bool],
) -> PassStats:
    """Train on the rows in `index` once, shuffled; polls `should_stop` before every batch.

    Raises TrialCancelled when asked to stop and TrialDiverged when the loss is NaN or
    infinite. On CUDA the finiteness check reads the GPU only every few batches (each read
    waits for the GPU), on the CPU it is done every batch.
    """
    started = time.perf_counter()
    plan = feeder.plan
    check_every = 1 if plan.device.type == "cpu" else 16
    model.train()
    loss_sum = torch.zeros((), device=plan.device)
    correct = torch.zeros((), dtype=torch.int64, device=plan.device)
    seen = 0
    for step, (images, labels) in enumerate(feeder.batches(index, batch_size, state.generator)):
        if should_stop():
            raise TrialCancelled
        x = feeder.model_input(images, augment=augment, strength=strength, generator=state.generator)
        with autocast(plan):
            logits = model(x)
            loss = state.criterion(logits, labels)
        state.optimizer.zero_grad(set_to_none=True)
        if state.scaler is not None:
            state.scaler.scale(loss).backward()
            state.scaler.step(state.optimizer)
            state.scaler.update()
        else:
            loss.backward()
            state.optimizer.step()
        state.scheduler.step()
        n = labels.shape[0]
        loss_sum += loss.detach().float() * n
        correct += (logits.detach().argmax(dim=1) == labels).sum()
        seen += n
        if (step + 1) % check_every == 0 and not torch.isfinite(loss_sum):
            raise TrialDiverged(f"batch {step + 1}")
    if not torch.isfinite(loss_sum):
        raise TrialDiverged("the end of the epoch")
    return PassStats(loss_sum.item() / seen, correct.item() / seen, seen, time.perf_counter() - started)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    feeder: BatchFeeder,
    index: torch.Tensor,
    batch_size: int,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> PassStats:
    """Mean cross-entropy (no label smoothing) and accuracy on the rows in `index`."""
    started = time.perf_counter()
    plan = feeder.plan
    model.eval()
    loss_sum = torch.zeros((), device=plan.device)
    correct = torch.zeros((), dtype=torch.int64, device=plan.device)
    seen = 0
    for images, labels in feeder.batches(index, batch_size):
        if should_stop():
            raise TrialCancelled
        with autocast(plan):
            logits = model(feeder.model_input(images))
        loss_sum += nn.functional.cross_entropy(logits.float(), labels, reduction="sum")
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += labels.shape[0]
    return PassStats(loss_sum.item() / seen, correct.item() / seen, seen, time.perf_counter() - started)
