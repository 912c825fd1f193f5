"""Feeding batches from the cached uint8 dataset to the model on the training device."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .augment import augment_batch
from .cache import DatasetTensors
from .devices import ComputePlan

# Keep the whole uint8 dataset on the GPU when it takes at most this share of the free memory.
_RESIDENT_SHARE = 0.25


class BatchFeeder:
    """Yields (uint8 images, labels) batches on the device and turns images into model input.

    On CUDA the uint8 dataset is copied to the GPU once when it is small enough, so a batch
    is a gather on the GPU; otherwise each batch is gathered into pinned host memory and
    copied with `non_blocking=True`. On the CPU a batch is one `index_select` from the
    memory-mapped cache.
    """

    def __init__(
        self, data: DatasetTensors, plan: ComputePlan, mean: tuple[float, ...], std: tuple[float, ...]
    ) -> None:
        self.plan = plan
        device = plan.device
        self.images = data.images
        self.labels = data.labels
        # Only a plan that pins memory (CUDA) stages batches; the CPU reads the memory-mapped cache directly.
        self.resident = not plan.pin_memory or _fits_on_gpu(data.images, device)
        if self.resident and device.type != "cpu":
            self.images = data.images.to(device)
            self.labels = data.labels.to(device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def batches(
        self, index: torch.Tensor, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches over the dataset rows in `index`, shuffled when a generator is given.

        A last batch of a single image is merged into the one before it (batch norm cannot
        train on one value per channel).
        """
        if generator is not None:
            index = index[torch.randperm(len(index), generator=generator)]
        chunks = list(torch.split(index, batch_size))
        if len(chunks) > 1 and len(chunks[-1]) == 1:
            chunks[-2:] = [torch.cat(chunks[-2:])]
        for chunk in chunks:
            yield self._fetch(chunk)

    def _fetch(self, chunk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.plan.device
        if self.resident:
            chunk = chunk.to(device, non_blocking=True)
            return self.images.index_select(0, chunk), self.labels.index_select(0, chunk)
        staged = torch.empty((len(chunk), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=self.plan.pin_memory)
        torch.index_select(self.images, 0, chunk, out=staged)
        labels = self.labels.index_select(0, chunk)
        if self.plan.pin_memory:
            labels = labels.pin_memory()
        return staged.to(device, non_blocking=True), labels.to(device, non_blocking=True)

    def model_input(
        self, images: torch.Tensor, *, augment: bool = False, strength: float = 0.0, generator=None
    ) -> torch.Tensor:
        """uint8 (N, 3, S, S) → normalised float32 input, augmented first when asked."""
        x = images.float().div_(255.0)
        if augment:
            x = augment_batch(x, strength, generator)
        x = x.sub_(self.mean).div_(self.std)
        if self.plan.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def batch_count(images: int, batch_size: int) -> int:
    """How many batches `BatchFeeder.batches` makes of `images` rows (a lone last image joins the one before)."""
    count = -(-images // batch_size)
    return count - 1 if count > 1 and images % batch_size == 1 else count


def _fits_on_gpu(images: torch.Tensor, device: torch.device) -> bool:
    free, _total = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() <= _RESIDENT_SHARE * free
