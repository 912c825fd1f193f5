"""Batch augmentation on tensors."""

from __future__ import annotations

import torch

from trainer_api.engine.augment import augment_batch


def _batch(n: int = 8, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(1))


def test_strength_zero_only_flips():
    images = _batch()
    out = augment_batch(images, 0.0, torch.Generator().manual_seed(0))
    for original, augmented in zip(images, out, strict=True):
        same = torch.allclose(augmented, original, atol=1e-5)
        mirrored = torch.allclose(augmented, original.flip(-1), atol=1e-5)
        assert same or mirrored
    flipped = sum(not torch.allclose(a, o, atol=1e-5) for a, o in zip(out, images, strict=True))
    assert 0 < flipped < len(images)


def test_full_strength_changes_every_image_but_keeps_shape_and_range():
    images = _batch()
    out = augment_batch(images, 1.0, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    for original, augmented in zip(images, out, strict=True):
        assert not torch.allclose(augmented, original, atol=1e-3)
        assert not torch.allclose(augmented, original.flip(-1), atol=1e-3)


def test_same_generator_state_same_augmentation():
    images = _batch()
    first = augment_batch(images, 0.7, torch.Generator().manual_seed(5))
    again = augment_batch(images, 0.7, torch.Generator().manual_seed(5))
    other = augment_batch(images, 0.7, torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_brightness_jitter_moves_the_mean_of_a_flat_image():
    flat = torch.full((64, 3, 8, 8), 0.5)
    out = augment_batch(flat, 1.0, torch.Generator().manual_seed(0))
    means = out.mean(dim=(1, 2, 3))
    assert means.min() < 0.4 and means.max() > 0.6  # factors reach 1 +- 0.4 at full strength
