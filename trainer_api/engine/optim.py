"""Optimisers and learning-rate schedules (stepped once per batch)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .config import TrialConfig

# The one-cycle schedule: start at 1/25 of the rate and reach it after a quarter of the steps.
ONECYCLE_START = 1 / 25
ONECYCLE_RISE = 0.25


def build_optimizer(model: nn.Module, config: TrialConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with (non-Nesterov) momentum, with the trial's lr and weight decay."""
    params = model.parameters()
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay)


def lr_factor(config: TrialConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at optimiser step `step` (0-based).

    Linear warm-up over `warmup_epochs` (from 1/warmup_steps to 1), then "onecycle" rises
    linearly from 1/25 to 1 over the first quarter of the remaining steps and decays to zero
    along a cosine, "cosine" decays to zero at the last step, "step" multiplies by 0.1 at
    1/2 and again at 3/4 of the remaining steps, "constant" stays at 1.
    """
    warmup = config.warmup_epochs * steps_per_epoch
    total = config.epochs * steps_per_epoch
    decay_steps = max(1, total - warmup)
    kind = config.scheduler

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / decay_steps)
        if kind == "onecycle":
            if progress < ONECYCLE_RISE:
                return ONECYCLE_START + (1.0 - ONECYCLE_START) * progress / ONECYCLE_RISE
            return 0.5 * (1.0 + math.cos(math.pi * (progress - ONECYCLE_RISE) / (1.0 - ONECYCLE_RISE)))
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if kind == "step":
            return 0.01 if progress >= 0.75 else 0.1 if progress >= 0.5 else 1.0
        return 1.0

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrialConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-batch LambdaLR following `lr_factor`; its state_dict goes into the checkpoint."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config, steps_per_epoch))
