"""Training-time augmentation of whole batches on the training device (no per-image PIL work).

One `grid_sample` call does the random resized crop, the horizontal flip and the small
rotation together; colour jitter (brightness, contrast, saturation) is a few element-wise
ops. Random parameters come from the trial's CPU generator, so a resumed trial draws the
same numbers as an uninterrupted one, on any device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LUMA = (0.299, 0.587, 0.114)


def augment_batch(images: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Randomly augment a float batch (N, 3, H, W) of 0..1 pixels; returns a new tensor in 0..1.

    At strength s (0..1): crops keep between 100% and (100 - 50 s)% of the area with an
    aspect ratio within exp(±0.25 s), rotation is within ±15 s degrees, brightness, contrast and
    saturation factors lie within 1 ± 0.4 s; images are flipped left-right with probability 0.5
    at any strength.
    """
    n = images.shape[0]
    r = torch.rand(n, 9, generator=generator, dtype=torch.float32)
    flip = torch.where(r[:, 0] < 0.5, -1.0, 1.0)
    area = 1.0 - 0.5 * strength * r[:, 1]
    ratio = torch.exp((r[:, 2] * 2 - 1) * 0.25 * strength)
    width = torch.sqrt(area * ratio).clamp(max=1.0)
    height = torch.sqrt(area / ratio).clamp(max=1.0)
    shift_x = (r[:, 3] * 2 - 1) * (1 - width)
    shift_y = (r[:, 4] * 2 - 1) * (1 - height)
    angle = (r[:, 5] * 2 - 1) * math.radians(15.0) * strength
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output coordinates (u, v) in [-1, 1] sample the input at R(angle) @ (flip*width*u, height*v) + shift.
    theta = torch.stack(
        [
            torch.stack([flip * width * cos, -height * sin, shift_x], dim=1),
            torch.stack([flip * width * sin, height * cos, shift_y], dim=1),
        ],
        dim=1,
    ).to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if strength <= 0:
        return out
    jitter = (1 + (r[:, 6:9] * 2 - 1) * 0.4 * strength).to(device=images.device, dtype=images.dtype)
    brightness, contrast, saturation = (jitter[:, i].view(n, 1, 1, 1) for i in range(3))
    luma = torch.tensor(_LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    out = out * brightness
    grey = (out * luma).sum(dim=1, keepdim=True)
    mean_grey = grey.mean(dim=(2, 3), keepdim=True)
    # contrast then saturation, both as blends: x*f + ref*(1-f)
    out = out * contrast + mean_grey * (1 - contrast)
    grey = grey * contrast + mean_grey * (1 - contrast)
    out = out * saturation + grey * (1 - saturation)
    return out.clamp_(0.0, 1.0)
