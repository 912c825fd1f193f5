"""A sample dataset to try the platform with before one's own data is ready.

Six classes of shapes (circle, square, triangle, star, cross, ring), each image
drawn in a random colour at a random size, angle and place over a noisy textured
background of another colour, some saved as JPEG and some as PNG, one folder per
class: the layout a user's own zip has. The shape, not the colour, tells the
classes apart, and the noise, rotation and scale keep it from being trivial.
Deterministic for a seed. Pillow only (the web process makes it; no torch).
"""

from __future__ import annotations

import io
import math
import random
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
PER_CLASS = 120
SIZE = 32
NAME = "Sample shapes"


def _colour(rng: random.Random, avoid: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """A random colour, at least a clear step away from `avoid` (the background)."""
    while True:
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        if avoid is None or sum(abs(a - b) for a, b in zip(colour, avoid, strict=True)) > 180:
            return colour


def _background(rng: random.Random, size: int) -> tuple[Image.Image, tuple[int, int, int]]:
    """A textured background: a base colour, a few faint strokes, then pixel noise."""
    base = _colour(rng)
    image = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 5)):
        shade = tuple(max(0, min(255, c + rng.randint(-45, 45))) for c in base)
        points = [(rng.uniform(0, size), rng.uniform(0, size)) for _ in range(2)]
        draw.line(points, fill=shade, width=rng.randint(1, max(1, size // 16)))
    return image, base


def _outline(name: str, cx: float, cy: float, radius: float, angle: float) -> list[tuple[float, float]]:
    """The polygon of a star, square, triangle or cross around (cx, cy), turned by `angle`."""
    if name == "star":
        corners = [(radius if i % 2 == 0 else radius * 0.42, math.pi * i / 5) for i in range(10)]
    elif name == "square":
        corners = [(radius, math.pi / 4 + math.pi / 2 * i) for i in range(4)]
    elif name == "triangle":
        corners = [(radius, math.pi / 2 + 2 * math.pi / 3 * i) for i in range(3)]
    else:  # cross: a plus sign of arms a third of its width
        arm = radius * 0.36
        flat = [(arm, radius), (arm, arm), (radius, arm), (radius, -arm), (arm, -arm), (arm, -radius),
                (-arm, -radius), (-arm, -arm), (-radius, -arm), (-radius, arm), (-arm, arm), (-arm, radius)]  # fmt: skip
        corners = [(math.hypot(x, y), math.atan2(y, x)) for x, y in flat]
    return [(cx + r * math.cos(a + angle), cy + r * math.sin(a + angle)) for r, a in corners]


def draw_shape(name: str, rng: random.Random, size: int = SIZE) -> Image.Image:
    """One image of class `name`."""
    image, base = _background(rng, size)
    draw = ImageDraw.Draw(image)
    colour = _colour(rng, avoid=base)
    radius = size * rng.uniform(0.26, 0.4)
    margin = radius * 0.8
    cx, cy = rng.uniform(margin, size - margin), rng.uniform(margin, size - margin)
    if name in ("circle", "ring"):
        box = [cx - radius, cy - radius, cx + radius, cy + radius]
        if name == "circle":
            draw.ellipse(box, fill=colour)
        else:
            draw.ellipse(box, outline=colour, width=max(2, round(radius * 0.3)))
    else:
        draw.polygon(_outline(name, cx, cy, radius, rng.uniform(0, 2 * math.pi)), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    noise = Image.frombytes("L", (size, size), rng.randbytes(size * size)).convert("RGB")  # seeded, unlike effect_noise
    return Image.blend(image, noise, rng.uniform(0.05, 0.12))


def sample_zip_bytes(*, per_class: int = PER_CLASS, size: int = SIZE, seed: int = 0) -> bytes:
    """The sample dataset as a zip: `shapes/<class>/<n>.jpg|png`, one folder per class."""
    rng = random.Random(seed)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in CLASSES:
            for index in range(per_class):
                image = draw_shape(name, rng, size)
                encoded = io.BytesIO()
                if index % 3 == 0:
                    image.save(encoded, "PNG")
                    suffix = "png"
                else:
                    image.save(encoded, "JPEG", quality=rng.randint(80, 95))
                    suffix = "jpg"
                entry = zipfile.ZipInfo(f"shapes/{name}/{index:03d}.{suffix}", date_time=(2026, 1, 1, 0, 0, 0))
                zf.writestr(entry, encoded.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def write_sample_zip(path: Path, **options) -> Path:
    """Write the sample zip to `path` (options as sample_zip_bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sample_zip_bytes(**options))
    return path
