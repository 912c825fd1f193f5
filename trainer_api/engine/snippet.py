"""Classify images with a model trained on the tuning platform.

Needs only torch, torchvision and Pillow: save this file next to your model.pth and run

    python classify.py model.pth photo1.jpg photo2.png --top-k 3

It prints one JSON line per image. In your own code:

    model, metadata = load_model("model.pth")
    print(classify(model, metadata, [Image.open("photo.jpg")], top_k=3))

Images are prepared exactly as in training: first frame, EXIF orientation applied, RGB
(transparency over white), squashed to input_size x input_size with Pillow's bilinear
filter, scaled to 0..1 and normalised with the mean/std stored in the file.
"""

from __future__ import annotations

import argparse
import json

import torch
import torchvision
from PIL import Image, ImageOps
from torch import nn
from torchvision.transforms.functional import pil_to_tensor


def flatten_hwc(x: torch.Tensor) -> torch.Tensor:
    """Flatten (N, C, H, W) features in (H, W, C) order.

    A channels_last activation then flattens without a copy and its gradient stays
    channels_last (a plain flatten makes the backward pass convert layouts, which was
    most of a CPU training step).
    """
    return x.permute(0, 2, 3, 1).flatten(1)


class SimpleCNN(nn.Module):
    """One 3x3 convolution, one 2x2 max-pool and one linear layer."""

    def __init__(self, num_classes: int, input_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * (input_size // 2) ** 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(flatten_hwc(self.pool(torch.relu(self.conv(x)))))


class LiteCNN(nn.Module):
    """Three 5x5 convolution blocks (conv, batch norm, ReLU, max-pool) and a 2048-wide classifier."""

    def __init__(self, num_classes: int, input_size: int) -> None:
        super().__init__()
        blocks = []
        for c_in, c_out in ((3, 32), (32, 64), (64, 128)):
            blocks += [nn.Conv2d(c_in, c_out, 5, padding=2), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
            blocks.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(4))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(128 * 4 * 4, 2048),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(2048, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(flatten_hwc(self.features(x)))


class CifarNet(nn.Module):
    """Two 3x3 convolution blocks (conv, ReLU, max-pool) and two linear layers."""

    def __init__(self, num_classes: int, input_size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(8),  # keeps the classifier's size independent of the input size
        )
        self.classifier = nn.Sequential(nn.Linear(64 * 8 * 8, 256), nn.ReLU(inplace=True), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(flatten_hwc(self.features(x)))


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 convolution (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """Two conv_bn layers with an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def stem_pools(input_size: int) -> int:
    """Max-pools after SmallResNet's first layer: its body always works at 20-40 px."""
    pools = 0
    while input_size / 2 ** (pools + 1) >= 20 and input_size / 2**pools > 40:
        pools += 1
    return pools


class SmallResNet(nn.Module):
    """A ResNet-9 style network for small images.

    A conv_bn stem of `width` channels (then one max-pool per doubling of the input above
    about 32 px), three stages of conv_bn + max-pool at 2, 4 and 8 x `width` channels with
    `depth` residual blocks (1-3) after the first and the last stage, global average pooling
    and one linear layer. depth=1 is ResNet-9.
    """

    def __init__(self, num_classes: int, input_size: int, width: int = 32, depth: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn(3, width)]
        layers += [nn.MaxPool2d(2) for _ in range(stem_pools(input_size))]
        channels = width
        for stage, factor in enumerate((2, 4, 8)):
            layers += [conv_bn(channels, width * factor), nn.MaxPool2d(2)]
            channels = width * factor
            if stage != 1:
                layers += [Residual(channels) for _ in range(depth)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class BNCNN(nn.Module):
    """`depth` blocks of two conv_bn layers and a max-pool, channels doubling from `width`
    (at most 16 x `width`), global average pooling, dropout 0.2 and one linear layer."""

    def __init__(self, num_classes: int, input_size: int, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for block in range(depth):
            out = width * 2 ** min(block, 4)
            layers += [conv_bn(channels, out), conv_bn(out, out), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


CUSTOM_MODELS = {
    "simple_cnn": SimpleCNN,
    "lite_cnn": LiteCNN,
    "cifar_net": CifarNet,
    "small_resnet": SmallResNet,
    "bn_cnn": BNCNN,
}


def build_model(architecture: str, num_classes: int, input_size: int, options: dict | None = None) -> nn.Module:
    """An untrained model of the named architecture (torchvision's own definition for the others).

    `options` are the architecture's own settings stored in the .pth (width and depth of
    small_resnet and bn_cnn).
    """
    if architecture in CUSTOM_MODELS:
        return CUSTOM_MODELS[architecture](num_classes, input_size, **(options or {}))
    return getattr(torchvision.models, architecture)(weights=None, num_classes=num_classes)


def load_model(path: str) -> tuple[nn.Module, dict]:
    """Rebuild the trained model from a platform .pth file; returns (model in eval mode, metadata)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(
        saved["architecture"], len(saved["class_names"]), saved["input_size"], saved.get("architecture_options")
    )
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return model, {key: value for key, value in saved.items() if key != "state_dict"}


def prepare(image: Image.Image, metadata: dict) -> torch.Tensor:
    """One image as the normalised (3, S, S) float tensor the model was trained on."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        image = background
    image = image.convert("RGB")
    size = metadata["input_size"]
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    mean = torch.tensor(metadata["mean"]).view(3, 1, 1)
    std = torch.tensor(metadata["std"]).view(3, 1, 1)
    return pil_to_tensor(image).float().div(255).sub(mean).div(std)


@torch.inference_mode()
def classify(model: nn.Module, metadata: dict, images: list, top_k: int = 3) -> list[list[tuple[str, float]]]:
    """Top-k (class name, probability) pairs for each PIL image, best first."""
    batch = torch.stack([prepare(image, metadata) for image in images])
    probabilities = torch.softmax(model(batch).float(), dim=1)
    top = probabilities.topk(min(top_k, probabilities.shape[1]), dim=1)
    names = metadata["class_names"]
    return [
        [(names[i], float(p)) for p, i in zip(row_p.tolist(), row_i.tolist(), strict=True)]
        for row_p, row_i in zip(top.values, top.indices, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Classify images with a platform model (.pth).")
    parser.add_argument("model", help="the model.pth downloaded from the platform")
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args()
    model, metadata = load_model(args.model)
    for path in args.images:
        with Image.open(path) as image:
            image.seek(0)
            image.load()
            (top,) = classify(model, metadata, [image], args.top_k)
        print(json.dumps({"image": path, "predictions": [{"class_name": n, "probability": p} for n, p in top]}))


if __name__ == "__main__":
    main()
