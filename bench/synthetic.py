"""Generated image datasets of different character, for the search benchmarks (no downloads).

Each maker writes a zip the platform accepts and returns the number of images:

- `photos`: colour scenes 64-160 px of varied aspect ratios, saved as JPEG at varied
  quality. A class is an object (shape + surface texture) on a cluttered, lit,
  textured background; position, scale, rotation, colours and lighting vary, and
  distractor blobs share the object colours. Wrapped layout with `train/` + `test/`.
- `drawings`: quick pen sketches on paper, 40-96 px PNG (greyscale and RGBA): fourteen
  symbols, several of them alike (square, rectangle, diamond, hexagon; circle, ellipse,
  cloud), drawn with wobbly, broken strokes of varied width, sheared, rotated and scaled.
  Layout `train/` + `val/` at the zip's root.
- `scans`: badly scanned printed digits and letters, 24-40 px greyscale JPEG and PNG:
  sixteen glyphs in look-alike groups (0/O/D/Q, 1/I/7/T, 2/Z, 5/S, 8/B, 6/G) in several
  typefaces, faint, blurred, speckled, streaked and slanted on uneven paper. Flat class
  folders inside one wrapping folder, split given as `train/` + `valid/`.

Every set comes with its own validation split so that every arm of a benchmark
trains and validates on exactly the same images. Everything is seeded.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# --- photos -------------------------------------------------------------------------------------

PHOTO_CLASSES = (
    "ball_striped", "ball_dotted", "box_striped", "box_plain", "ring_plain",
    "ring_checked", "star_plain", "star_dotted", "leaf_veined", "leaf_plain",
)  # fmt: skip


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in 0..1 (bilinear upsampling of a coarse random grid)."""
    coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32) / 255.0


def _shape_mask(kind: str, yy: np.ndarray, xx: np.ndarray, r: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    rho = np.sqrt(u**2 + v**2)
    phi = np.arctan2(v, u)
    if kind == "ball":
        return rho < r
    if kind == "box":
        return (np.abs(u) < r * 0.85) & (np.abs(v) < r * 0.85)
    if kind == "ring":
        return (rho < r) & (rho > r * 0.55)
    if kind == "star":
        return rho < r * (0.55 + 0.45 * np.cos(5 * phi) ** 2)
    return (np.abs(v) < r * 0.45 * np.sqrt(np.clip(1 - (u / r) ** 2, 0, 1))) & (np.abs(u) < r)  # leaf


def _surface(pattern: str, yy: np.ndarray, xx: np.ndarray, r: float, angle: float) -> np.ndarray:
    """Texture modulation 0..1 of the object's surface."""
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * xx + s * yy, -s * xx + c * yy
    period = r / 2.2
    if pattern == "striped":
        return (np.sin(u / period * math.pi) > 0).astype(np.float32)
    if pattern == "dotted":
        return ((np.sin(u / period * math.pi) * np.sin(v / period * math.pi)) > 0.35).astype(np.float32)
    if pattern == "checked":
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    if pattern == "veined":
        return ((np.abs(v) < r * 0.06) | (np.abs(np.sin((u - np.abs(v)) / period * math.pi)) < 0.18)).astype(np.float32)
    return np.zeros_like(u, dtype=np.float32)


def photo_image(label: int, rng: np.random.Generator) -> Image.Image:
    """One scene of class `label` at a random size between 64 and 160 px."""
    w, h = int(rng.integers(64, 161)), int(rng.integers(64, 161))
    kind, pattern = PHOTO_CLASSES[label].split("_")
    base = rng.uniform(40, 200, 3)
    tint = rng.uniform(-50, 50, 3)
    ground = _smooth_noise(rng, h, w, int(rng.integers(2, 6)))[..., None]
    fine = _smooth_noise(rng, h, w, int(rng.integers(8, 20)))[..., None]
    pixels = base + tint * (ground * 2 - 1) + 40 * (fine - 0.5)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    side = min(w, h)
    palette = [rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)]
    for _ in range(int(rng.integers(1, 5))):  # distractors in the object's colours
        cy, cx, rr = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.05, 0.2) * side
        blob = ((yy - cy) ** 2 / rng.uniform(0.3, 3) + (xx - cx) ** 2) < rr**2
        pixels[blob] = palette[int(rng.integers(0, 2))] * rng.uniform(0.6, 1.0)
    r = rng.uniform(0.22, 0.42) * side
    cy, cx = rng.uniform(r * 0.8, h - r * 0.8), rng.uniform(r * 0.8, w - r * 0.8)
    angle = rng.uniform(0, 2 * math.pi)
    dy, dx = yy - cy, xx - cx
    mask = _shape_mask(kind, dy, dx, r, angle)
    texture = _surface(pattern, dy, dx, r, rng.uniform(0, 2 * math.pi))[..., None]
    surface = palette[0] * (1 - texture) + palette[1] * texture
    shade = 1.0 - 0.45 * np.clip((dx * rng.uniform(-1, 1) + dy * rng.uniform(-1, 1)) / r, -1, 1)[..., None]
    pixels = np.where(mask[..., None], surface * shade, pixels)
    light = rng.uniform(0.6, 1.3) + rng.uniform(-0.3, 0.3) * (xx / w - 0.5)[..., None]
    pixels = pixels * light + rng.normal(0, rng.uniform(3, 14), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return image


def _jpeg(image: Image.Image, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(70, 96)))
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- drawings -----------------------------------------------------------------------------------

DRAWING_CLASSES = (
    "arrow", "circle", "cloud", "cross", "diamond", "ellipse", "hexagon", "house",
    "lightning", "rectangle", "spiral", "square", "star", "triangle",
)  # fmt: skip


def _polygon(corners: int, rx: float, ry: float, turn: float = 0.0) -> list[tuple[float, float]]:
    angles = [turn + 2 * math.pi * k / corners for k in range(corners + 1)]
    return [(rx * math.cos(a), ry * math.sin(a)) for a in angles]


def _symbol_strokes(name: str) -> list[list[tuple[float, float]]]:
    """Polylines of a symbol in the unit square (-1..1), before jitter."""
    t = np.linspace(0, 2 * math.pi, 40)
    shapes = {
        "circle": [list(zip(np.cos(t) * 0.8, np.sin(t) * 0.8, strict=True))],
        "ellipse": [list(zip(np.cos(t) * 0.85, np.sin(t) * 0.5, strict=True))],
        "square": [_polygon(4, 0.95, 0.95, math.pi / 4)],
        "rectangle": [_polygon(4, 1.0, 0.6, math.pi / 4)],
        "diamond": [_polygon(4, 0.7, 0.95)],
        "hexagon": [_polygon(6, 0.85, 0.85)],
        "triangle": [_polygon(3, 0.85, 0.85, -math.pi / 2)],
        "cross": [[(-0.8, 0), (0.8, 0)], [(0, -0.8), (0, 0.8)]],
        "arrow": [[(-0.8, 0), (0.8, 0)], [(0.4, -0.4), (0.8, 0), (0.4, 0.4)]],
        "house": [[(-0.6, 0.8), (-0.6, -0.1), (0, -0.8), (0.6, -0.1), (0.6, 0.8), (-0.6, 0.8)],
                  [(-0.15, 0.8), (-0.15, 0.35), (0.15, 0.35), (0.15, 0.8)]],
        "star": [[(0.85 * math.sin(k * 4 * math.pi / 5), -0.85 * math.cos(k * 4 * math.pi / 5)) for k in range(6)]],
        "lightning": [[(0.2, -0.9), (-0.3, 0.05), (0.15, 0.0), (-0.25, 0.9)]],
    }  # fmt: skip
    if name in shapes:
        return shapes[name]
    if name == "spiral":
        s = np.linspace(0, 5 * math.pi, 80)
        return [list(zip(np.cos(s) * s / (5 * math.pi) * 0.85, np.sin(s) * s / (5 * math.pi) * 0.85, strict=True))]
    outline = []  # cloud: bumpy closed outline
    for angle in np.linspace(0, 2 * math.pi, 60):
        radius = 0.55 + 0.12 * abs(math.sin(angle * 3))
        outline.append((math.cos(angle) * radius * 1.3, math.sin(angle) * radius * 0.8))
    return [outline]


def drawing_image(label: int, rng: np.random.Generator) -> Image.Image:
    """One quick pen sketch of class `label` on paper, 40-96 px: wobbly, broken strokes and stray marks."""
    size = int(rng.integers(40, 97))
    paper = int(rng.integers(200, 256))
    canvas = Image.new("L", (size * 2, size * 2), paper)  # drawn at 2x, then shrunk (anti-aliasing)
    draw = ImageDraw.Draw(canvas)
    scale = rng.uniform(0.4, 0.9) * size
    angle = rng.uniform(-0.35, 0.35)
    stretch = rng.uniform(0.8, 1.25)
    shear = rng.uniform(-0.3, 0.3)
    cx, cy = size + rng.uniform(-0.3, 0.3) * size, size + rng.uniform(-0.3, 0.3) * size
    ink = int(rng.integers(0, 120))
    width = int(rng.integers(1, 7))
    wobble = rng.uniform(0.02, 0.08)
    for stroke in _symbol_strokes(DRAWING_CLASSES[label]):
        dense = []
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:], strict=False):
            dense += [(x0 + (x1 - x0) * f, y0 + (y1 - y0) * f) for f in np.linspace(0, 1, 6, endpoint=False)]
        dense.append(stroke[-1])
        drift = np.cumsum(rng.normal(0, wobble, (len(dense), 2)), axis=0) * 0.3
        points = []
        for (x, y), (ex, ey) in zip(dense, drift, strict=True):
            x, y = (x + shear * y) * stretch + ex, y / stretch + ey
            rx = x * math.cos(angle) - y * math.sin(angle)
            ry = x * math.sin(angle) + y * math.cos(angle)
            points.append((cx + rx * scale, cy + ry * scale))
        gap = int(rng.integers(0, len(points))) if rng.random() < 0.5 else -1  # a pen lift somewhere
        pieces = [points[: max(gap, 0)], points[gap + 2 :]] if gap >= 0 else [points]
        for piece in pieces:
            if len(piece) > 1:
                draw.line(piece, fill=ink, width=width, joint="curve")
    for _ in range(int(rng.integers(0, 6))):  # stray marks and scribbles
        x, y = rng.uniform(0, size * 2, 2)
        draw.line([(x, y), (x + rng.normal(0, 18), y + rng.normal(0, 18))], fill=ink, width=max(1, width - 1))
    image = canvas.resize((size, size), Image.Resampling.LANCZOS)
    if rng.random() < 0.5:  # a transparent sheet: ink as alpha
        alpha = Image.eval(image, lambda p: 255 - p)
        rgba = Image.new("RGBA", image.size, (20, 20, 60, 0))
        rgba.putalpha(alpha)
        return rgba
    return image


# --- scans --------------------------------------------------------------------------------------

SCAN_CLASSES = tuple("0125678BDGIOQSTZ")  # in look-alike pairs: 0/O/D/Q, 1/I/7/T, 2/Z, 5/S, 8/B, 6/G
_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
               "DejaVuSerif-Bold.ttf", "DejaVuSansCondensed-Oblique.ttf")  # fmt: skip


def _scan_font(rng: np.random.Generator, size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """One of several typefaces when the DejaVu fonts are installed, else Pillow's own."""
    available = [_FONT_DIR / name for name in _FONT_FILES if (_FONT_DIR / name).is_file()]
    if not available:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(available[int(rng.integers(0, len(available)))]), size=int(size))


def scan_image(label: int, rng: np.random.Generator) -> Image.Image:
    """One badly scanned glyph of class `label`, 24-40 px greyscale: faint, blurred, speckled, slanted."""
    size = int(rng.integers(24, 41))
    big = size * 3
    paper = _smooth_noise(rng, big, big, 3) * rng.uniform(10, 70) + rng.uniform(150, 235)
    canvas = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    font = _scan_font(rng, rng.uniform(0.45, 0.9) * big)
    layer = Image.new("L", (big, big), 0)
    ImageDraw.Draw(layer).text(
        (big / 2 + rng.uniform(-0.18, 0.18) * big, big / 2 + rng.uniform(-0.18, 0.18) * big),
        SCAN_CLASSES[label], fill=255, font=font, anchor="mm",
    )  # fmt: skip
    slant = rng.uniform(-0.35, 0.35)
    layer = layer.transform(layer.size, Image.Transform.AFFINE, (1, slant, -slant * big / 2, 0, 1, 0))
    layer = layer.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR)
    ink = rng.uniform(20, 130)
    alpha = np.asarray(layer, dtype=np.float32) / 255.0 * rng.uniform(0.5, 1.0)
    pixels = np.asarray(canvas, dtype=np.float32) * (1 - alpha) + ink * alpha
    for _ in range(int(rng.integers(0, 3))):  # scanner streaks and neighbouring print
        row = int(rng.integers(0, big))
        pixels[row : row + int(rng.integers(1, 4))] *= rng.uniform(0.5, 0.9)
    pixels += rng.normal(0, rng.uniform(6, 28), pixels.shape)
    speckle = rng.random(pixels.shape) < rng.uniform(0, 0.03)
    pixels[speckle] = rng.uniform(0, 255)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 3.2)))
    return image.resize((size, size), Image.Resampling.BILINEAR)


# --- writing zips -------------------------------------------------------------------------------


def _write(
    path: Path,
    classes: tuple[str, ...],
    draw: Callable[[int, np.random.Generator], Image.Image],
    encode: Callable[[Image.Image, np.random.Generator], tuple[str, bytes]],
    per_class: int,
    val_share: float,
    folders: tuple[str, str, str],
    seed: int,
) -> int:
    """Write `per_class` images per class; `folders` = (prefix, train folder, validation folder)."""
    rng = np.random.default_rng(seed)
    prefix, train_folder, val_folder = folders
    val_per_class = max(1, round(per_class * val_share))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for label, name in enumerate(classes):
            for index in range(per_class):
                suffix, data = encode(draw(label, rng), rng)
                split = val_folder if index < val_per_class else train_folder
                archive.writestr(f"{prefix}{split}/{name}/{index:04d}{suffix}", data)
    return per_class * len(classes)


def make_photos(path: Path, per_class: int = 240, seed: int = 1) -> int:
    """Colour scenes, JPEG, 10 classes; wrapped `photos/train` + `photos/test`."""
    return _write(path, PHOTO_CLASSES, photo_image, lambda im, rng: (".jpg", _jpeg(im, rng)), per_class, 0.2,
                  ("photos/", "train", "test"), seed)  # fmt: skip


def make_drawings(path: Path, per_class: int = 120, seed: int = 2) -> int:
    """Pen sketches, PNG, 14 classes; `train/` + `val/` at the root."""
    return _write(path, DRAWING_CLASSES, drawing_image, lambda im, rng: (".png", _png(im)), per_class, 0.2,
                  ("", "train", "val"), seed)  # fmt: skip


def make_scans(path: Path, per_class: int = 120, seed: int = 3) -> int:
    """Scanned glyphs, greyscale JPEG and PNG, 16 classes; wrapped `scans/train` + `scans/valid`."""

    def encode(image: Image.Image, rng: np.random.Generator) -> tuple[str, bytes]:
        return (".jpg", _jpeg(image, rng)) if rng.random() < 0.5 else (".png", _png(image))

    return _write(path, SCAN_CLASSES, scan_image, encode, per_class, 0.2, ("scans/", "train", "valid"), seed)


MAKERS: dict[str, Callable[..., int]] = {"photos": make_photos, "drawings": make_drawings, "scans": make_scans}


def extract_as_dataset(zip_path: Path, folder: Path) -> Path:
    """Unpack a train/val zip into `folder` with the manifest the engine reads (trainer_api/README.md).

    For benchmarks that drive the engine without the platform's ingestion.
    """
    import hashlib
    import json

    items = []
    digest = hashlib.sha256()
    with zipfile.ZipFile(zip_path) as archive:
        names = sorted(n for n in archive.namelist() if not n.endswith("/"))
        classes = sorted({n.split("/")[-2] for n in names})
        for name in names:
            parts = name.split("/")
            data = archive.read(name)
            target = folder / "files" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
            split = "val" if parts[-3] in ("val", "valid", "test") else "train"
            items.append({"path": f"files/{name}", "label": classes.index(parts[-2]), "split": split})
    manifest = {"format": 1, "content_hash": digest.hexdigest(), "classes": classes, "split_source": "given",
                "items": items}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder
