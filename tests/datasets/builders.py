"""Zips of tiny generated images for the dataset suites."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 200, 40), (160, 60, 200), (30, 190, 200)]


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (24, 16), colour=(200, 50, 50), mode: str = "RGB",
                **save_args) -> bytes:  # fmt: skip
    """An image file's bytes: a coloured rectangle with a darker corner, so it is not blank."""
    image = Image.new("RGB", size, colour)
    image.paste((colour[0] // 3, colour[1] // 3, colour[2] // 3), (0, 0, max(1, size[0] // 3), max(1, size[1] // 3)))
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **save_args)
    return out.getvalue()


def distinct_image(rng: random.Random, size: int = 48) -> Image.Image:
    """An image unlike the others `rng` makes: random shapes in random colours over a noise texture.

    The shapes are smaller than the frame, so each image has edges (a frame of one colour and
    noise alone has nothing to tell it from another of that colour, for a person or a hash).
    """
    image = Image.new("RGB", (size, size), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 5)):
        x, y = rng.uniform(-size / 5, size * 0.8), rng.uniform(-size / 5, size * 0.8)
        box = [x, y, x + rng.uniform(size / 5, size * 0.6), y + rng.uniform(size / 5, size * 0.6)]
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    noise = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
    return Image.blend(image, noise, rng.uniform(0.1, 0.3))


def encoded(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    """The bytes of `image` saved as `fmt`."""
    out = io.BytesIO()
    image.save(out, fmt, **save_args)
    return out.getvalue()


def cropped(image: Image.Image, fraction: float = 0.05) -> Image.Image:
    """`image` with `fraction` of its width and height cut away, half on each side."""
    width, height = image.size
    dx, dy = max(1, round(width * fraction / 2)), max(1, round(height * fraction / 2))
    return image.crop((dx, dy, width - dx, height - dy))


def write_zip(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip holding `entries` (name -> bytes)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def class_folders(classes=("cat", "dog"), per_class: int = 4, prefix: str = "", fmt: str = "PNG",
                  suffix: str = ".png") -> dict[str, bytes]:  # fmt: skip
    """`<prefix><class>/<n>.png` entries, one colour per class."""
    entries = {}
    for c, name in enumerate(classes):
        for n in range(per_class):
            colour = tuple(min(255, v + 9 * n) for v in COLOURS[c % len(COLOURS)])
            entries[f"{prefix}{name}/{n:03d}{suffix}"] = image_bytes(fmt, colour=colour)
    return entries


def dataset_zip(path: Path, classes=("cat", "dog"), per_class: int = 4, prefix: str = "") -> Path:
    """A valid dataset zip: class folders of PNGs."""
    return write_zip(path, class_folders(classes, per_class, prefix))


def _central_record(data: bytes, name: str) -> int:
    """Offset of `name`'s central directory record in a zip's bytes."""
    encoded = name.encode()
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + name_length] == encoded:
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise KeyError(name)


def patch_entry(data: bytes, name: str, *, flag_bits: int | None = None, file_size: int | None = None) -> bytes:
    """Rewrite fields zipfile will not write for us: the encryption flag, a lying uncompressed size."""
    patched = bytearray(data)
    central = _central_record(data, name)
    local = int.from_bytes(data[central + 42 : central + 46], "little")
    if flag_bits is not None:
        for at in (central + 8, local + 6):
            patched[at : at + 2] = (int.from_bytes(patched[at : at + 2], "little") | flag_bits).to_bytes(2, "little")
    if file_size is not None:
        patched[central + 24 : central + 28] = file_size.to_bytes(4, "little")
        patched[local + 22 : local + 26] = file_size.to_bytes(4, "little")
    return bytes(patched)
