"""Classifying images with a trained model (what the service's /v1/predict runs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from .images import ensure_rgb, resize_square


def prepare_images(images: list[Image.Image], metadata: dict[str, Any]) -> torch.Tensor:
    """PIL images → the normalised float batch (N, 3, S, S) the model was trained on.

    Same steps as training: EXIF orientation, RGB, squash to input_size with Pillow's
    bilinear filter, /255, minus mean, divided by std (both from the model's metadata).
    """
    size = metadata["input_size"]
    arrays = [
        np.asarray(resize_square(ensure_rgb(ImageOps.exif_transpose(image)), size), dtype=np.uint8) for image in images
    ]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
    mean = torch.tensor(metadata["mean"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(metadata["std"], dtype=torch.float32).view(1, 3, 1, 1)
    return batch.float().div_(255.0).sub_(mean).div_(std)


@torch.inference_mode()
def predict(
    model: nn.Module, metadata: dict[str, Any], images: list[Image.Image], top_k: int = 5, *, batch_size: int = 64
) -> list[list[dict[str, Any]]]:
    """Top-k predictions per image, best first: `{"class_name", "index", "probability"}` dicts.

    `model` and `metadata` come from `load_model`; images are run in batches of `batch_size`
    on the model's device.
    """
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    names = metadata["class_names"]
    k = min(top_k, len(names))
    device = next(model.parameters()).device
    model.eval()
    results: list[list[dict[str, Any]]] = []
    for start in range(0, len(images), batch_size):
        x = prepare_images(images[start : start + batch_size], metadata).to(device)
        probabilities = torch.softmax(model(x).float(), dim=1).cpu()
        top = probabilities.topk(k, dim=1)
        for values, indices in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            results.append(
                [{"class_name": names[i], "index": i, "probability": p} for p, i in zip(values, indices, strict=True)]
            )
    return results
