"""Reading one image file the same way everywhere (ingestion, training, prediction)."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


class UnreadableImage(ValueError):
    """The file is not an image Pillow can fully decode (corrupt, truncated, too many pixels, unknown)."""


def open_rgb(path: str | Path, max_pixels: int | None = None) -> Image.Image:
    """Decode an image file fully into an RGB PIL image.

    First frame only (GIF, multi-page TIFF); EXIF orientation applied; greyscale,
    palette, CMYK and alpha images become RGB (alpha composited onto white).
    Raises UnreadableImage with a short reason when the file cannot be used.
    """
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make it an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous = Image.MAX_IMAGE_PIXELS
        if max_pixels is not None:
            Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            with Image.open(path) as image:
                image.seek(0)
                image.load()  # verify() does not decode; load() catches truncation
                image = ImageOps.exif_transpose(image)
                return _to_rgb(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise UnreadableImage(f"too many pixels ({e})") from e
        except (OSError, SyntaxError, ValueError, Image.UnidentifiedImageError) as e:
            raise UnreadableImage(str(e) or type(e).__name__) from e
        finally:
            Image.MAX_IMAGE_PIXELS = previous


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image.copy() if image.readonly else image
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def ensure_rgb(image: Image.Image) -> Image.Image:
    """An RGB version of an already opened image (same conversions as `open_rgb`)."""
    return _to_rgb(image)


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """The engine's resize policy: squash to `size` x `size` with Pillow's bilinear filter.

    The aspect ratio is not kept (no crop, no padding), exactly like
    `torchvision.transforms.Resize((size, size))` on a PIL image; training,
    prediction and the user snippet all use this one resize.
    """
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BILINEAR)
