"""What an image looks like, in a few bytes: a perceptual hash and a coarse colour layout.

Computed in the pool workers from the image `image_checks.check_images` has just
decoded (no second decode), compared by `duplicates.py`.

The perceptual hash is pHash (the DCT hash of imagehash's `phash`: the 8 x 8 lowest
frequencies of a 32 x 32 greyscale copy, each bit "above the median"), written here
rather than taken from `imagehash==4.3.2`, measured on this machine:
- imagehash converts and LANCZOS-resizes the full decoded image: 9 ms for a
  1600 x 1200 photo against 1.6 ms here (one BOX reduction with `reducing_gap`);
- the 32 x 32 copy the hash is made from also gives the colour layout, so there
  is one reduction per image, not two (45 us for a 64 x 64 image, about the
  cost of decoding it);
- it would add two dependencies (imagehash and PyWavelets) for twelve lines of numpy.

Alone, a 64-bit pHash of small images (16-64 px) is not selective enough: between
distinct generated shapes it falls as low as 2-4 bits, and between distinct scanned
glyphs or pen drawings of one class to 8-10, while a 5% crop moves it by up to ~18.
So a near-duplicate must also have nearly the same 4 x 4 colour layout (mean absolute
difference over 48 values), which a crop, resize or re-encode barely changes and
unrelated photos almost never share, and nearly the same 16 x 16 greyscale detail
(each copy standardised by its own mean and contrast, so that sparse strokes on white
paper count as much as a photo's texture): the layout alone is the same for every
white page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

HASH_SIDE = 32  # the greyscale copy the DCT is taken of
LOW = 8  # the 8 x 8 lowest frequencies: 64 bits
LAYOUT_SIDE = 4  # colour layout: 4 x 4 blocks x RGB = 48 bytes
DETAIL_SIDE = 16  # greyscale detail: 16 x 16 = 256 bytes
_N = np.arange(HASH_SIDE)
# The first LOW rows of the (unnormalised) DCT-II matrix: coefficients = D @ pixels @ D.T.
_DCT = np.cos(np.pi * (2 * _N[None, :] + 1) * np.arange(LOW)[:, None] / (2 * HASH_SIDE)).astype(np.float32)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's convert("L")


@dataclass(frozen=True)
class Fingerprint:
    """pHash as a 64-bit unsigned int, the 4 x 4 RGB colour layout (48 bytes), the 16 x 16 grey detail (256 bytes)."""

    phash: int
    layout: bytes
    detail: bytes = bytes(DETAIL_SIDE * DETAIL_SIDE)


def fingerprint(image: Image.Image) -> Fingerprint:
    """The fingerprint of a decoded RGB image (any size; the aspect ratio is ignored, like pHash's)."""
    small = image.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX, reducing_gap=2.0)
    grey = np.asarray(small, dtype=np.float32) @ _LUMA
    coefficients = (_DCT @ grey @ _DCT.T).ravel()
    # Above the median: half the bits set (the 32nd of 64 sorted values, as ties are rare in floats).
    bits = np.packbits(coefficients > np.sort(coefficients)[LOW * LOW // 2 - 1])
    layout = small.resize((LAYOUT_SIDE, LAYOUT_SIDE), Image.Resampling.BOX).tobytes()
    detail = small.convert("L").resize((DETAIL_SIDE, DETAIL_SIDE), Image.Resampling.BOX).tobytes()
    return Fingerprint(int.from_bytes(bits.tobytes(), "big"), layout, detail)
