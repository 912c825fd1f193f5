"""How fast a configuration trains on this device, measured on random data in a second or two.

The platform sizes a trial's epochs to its share of a time budget before the trial
starts; this is the measurement it sizes them with. Same model, precision, memory layout,
batch size and threads as a real trial; no dataset is read.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .architectures import architecture_options, build_model
from .config import TrialConfig
from .devices import compute_plan, cpu_threads, resolve_device
from .loop import autocast
from .optim import build_optimizer

# Timed steps stop after this many seconds, and not before this many steps.
_TIMED_SECONDS = 1.0
_MIN_STEPS = 3


@dataclass(frozen=True)
class SpeedReport:
    """Images per second of training steps and of evaluation batches for one configuration."""

    train_images_per_second: float
    eval_images_per_second: float
    batch_size: int
    device: str

    def epoch_seconds(self, train_images: int, val_images: int) -> float:
        """Seconds one epoch of `train_images` plus a validation pass over `val_images` should take."""
        return train_images / self.train_images_per_second + val_images / self.eval_images_per_second

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def _timed(step, *, sync) -> float:
    """Median seconds of one call of `step` after two warm-up calls, over about `_TIMED_SECONDS`.

    The median of single calls, not the mean: a hiccup of the machine (another process,
    a page fault) in one step does not size a whole trial.
    """
    step()
    step()
    sync()
    durations: list[float] = []
    started = time.perf_counter()
    while len(durations) < _MIN_STEPS or time.perf_counter() - started < _TIMED_SECONDS:
        begin = time.perf_counter()
        step()
        sync()
        durations.append(time.perf_counter() - begin)
    return statistics.median(durations)


def measure_speed(
    config: TrialConfig, num_classes: int, device: str = "auto", *, num_threads: int | None = None
) -> SpeedReport:
    """Train and evaluate `config`'s model on random batches; returns its images per second.

    `batch_size` in the report is the configured one; augmentation costs are not included
    (they are a few per cent of a step).
    """
    plan = compute_plan(resolve_device(device))
    if plan.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as run_trial does: time the kernels a trial will use
    previous = torch.get_num_threads()
    torch.set_num_threads(cpu_threads(num_threads))
    try:
        options = architecture_options(config.architecture, config.width, config.depth)
        model, _ = build_model(config.architecture, num_classes, config.input_size, options=options)
        layout = torch.channels_last if plan.channels_last else torch.preserve_format
        model.to(plan.device, memory_format=layout)
        optimizer = build_optimizer(model, config)
        batch = config.batch_size
        x = torch.randn(batch, 3, config.input_size, config.input_size, device=plan.device)
        x = x.contiguous(memory_format=layout) if plan.channels_last else x
        y = torch.randint(0, num_classes, (batch,), device=plan.device)

        def sync() -> None:
            if plan.device.type == "cuda":
                torch.cuda.synchronize(plan.device)

        # float16 trains through a GradScaler in a trial (loop.py): time its unscale and inf check too.
        scaler = torch.amp.GradScaler(plan.device.type) if plan.use_grad_scaler else None

        def train_step() -> None:
            with autocast(plan):
                loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()

        @torch.inference_mode()
        def eval_step() -> None:
            with autocast(plan):
                model(x)

        model.train()
        train = _timed(train_step, sync=sync)
        model.eval()
        evaluation = _timed(eval_step, sync=sync)
    finally:
        torch.set_num_threads(previous)
    return SpeedReport(batch / train, batch / evaluation, batch, str(plan.device))
