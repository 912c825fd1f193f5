"""The duplicate search on its own: fingerprints of PIL images, exact and near copies, leakage, no false pairs."""

from __future__ import annotations

import hashlib
import io
import random

import numpy as np
import pytest
from PIL import Image

from tests.datasets.builders import cropped, distinct_image, encoded
from worker.ingest import duplicates
from worker.ingest.duplicates import find_copies, leaked_validation, near_pairs
from worker.ingest.fingerprints import Fingerprint, fingerprint


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def search(files: list[bytes]):
    """find_copies over image files, as ingestion calls it: SHA-256 of the bytes, fingerprint of the decode."""
    return find_copies([hashlib.sha256(f).digest() for f in files], [fingerprint(decoded(f)) for f in files])


COPIES = {
    "resized": lambda image: encoded(image.resize((image.width * 3 // 4, image.height * 3 // 4))),
    "enlarged": lambda image: encoded(image.resize((image.width * 3 // 2, image.height * 3 // 2))),
    "jpeg_q60": lambda image: encoded(image, "JPEG", quality=60),
    "cropped_5pc": lambda image: encoded(cropped(image, 0.05)),
    "all_three": lambda image: encoded(cropped(image, 0.05).resize((40, 40)), "JPEG", quality=75),
}


# Copies found out of 12: every resized or re-encoded one; a crop moves what a 16 px detail sees, so most.
FOUND_AT_LEAST = {"resized": 12, "enlarged": 12, "jpeg_q60": 12, "cropped_5pc": 9, "all_three": 9}


@pytest.mark.parametrize("size", [32, 48, 64])
@pytest.mark.parametrize("kind", sorted(COPIES))
def test_each_kind_of_copy_is_found_and_nothing_else(size, kind):
    rng = random.Random(size)
    originals = [distinct_image(rng, size) for _ in range(12)]
    files = [encoded(image) for image in originals] + [COPIES[kind](image) for image in originals]
    copies = search(files)
    found = sum(copies.groups[n] == copies.groups[n + 12] for n in range(12))
    assert found >= FOUND_AT_LEAST[kind], f"{found} of 12 copies ({kind}) found"
    assert len(set(copies.groups.tolist())) == 24 - found  # no two originals joined
    assert len(copies.near) == found and not copies.truncated


def test_the_same_bytes_are_exact_copies_without_a_near_pair():
    rng = random.Random(1)
    a, b = encoded(distinct_image(rng)), encoded(distinct_image(rng))
    copies = search([a, b, a, a])
    assert copies.content.tolist() == [0, 1, 0, 0]
    assert copies.groups[0] == copies.groups[2] == copies.groups[3] != copies.groups[1]
    assert len(copies.near) == 0


def test_no_false_pair_among_2000_distinct_images():
    rng = random.Random(2026)
    fingerprints = [fingerprint(distinct_image(rng, rng.choice([16, 24, 32, 48, 64]))) for _ in range(2000)]
    copies = find_copies([n.to_bytes(4, "big") for n in range(2000)], fingerprints)
    assert copies.near.tolist() == []
    assert len(set(copies.groups.tolist())) == 2000


def test_the_colour_window_misses_no_pair_a_full_comparison_finds(monkeypatch):
    # near_pairs compares only images of similar mean colour, a chunk at a time: same answer as all pairs.
    monkeypatch.setattr(duplicates, "CHUNK", 7)
    rng = np.random.default_rng(3)
    centres = rng.integers(0, 256, (40, 48))
    layouts = np.clip(centres[rng.integers(0, 40, 400)] + rng.integers(-10, 11, (400, 48)), 0, 255).astype(np.uint8)
    base = rng.integers(0, 2**63, 40, dtype=np.int64).astype(np.uint64)
    flips = rng.integers(0, 64, (400, 12))
    hashes = base[rng.integers(0, 40, 400)].copy()
    for row, bits in enumerate(flips):
        for bit in bits[: rng.integers(0, 7)]:
            hashes[row] ^= np.uint64(1) << np.uint64(bit)
    details = duplicates.standardised(bytes(400 * 256), 400)  # blank details: alike, only the window decides
    pairs, truncated = near_pairs(hashes, layouts, details)
    expected = [
        [i, j]
        for i in range(400)
        for j in range(i + 1, 400)
        if bin(int(hashes[i] ^ hashes[j])).count("1") <= duplicates.PHASH_MAX_BITS
        and np.abs(layouts[i].astype(int) - layouts[j]).mean() <= duplicates.LAYOUT_MAX_DIFF
    ]
    assert len(expected) > 50 and not truncated
    assert pairs.tolist() == expected


def test_a_search_of_mostly_alike_images_stops_and_says_so(monkeypatch):
    monkeypatch.setattr(duplicates, "MAX_NEAR_PAIRS", 10)
    alike = [Fingerprint(0, bytes(48)) for _ in range(20)]
    copies = find_copies([n.to_bytes(2, "big") for n in range(20)], alike)
    assert copies.truncated and len(copies.near) == 10


def glyph_page(rng: random.Random, text: str) -> Image.Image:
    """A scanned-looking glyph: dark strokes on a white page, placed and sized a little differently each time."""
    from PIL import ImageDraw

    image = Image.new("RGB", (32, 32), (250, 250, 246))
    draw = ImageDraw.Draw(image)
    x, y = rng.randint(3, 8), rng.randint(-5, 0)
    draw.text((x, y), text, fill=(rng.randint(0, 60),) * 3, font_size=rng.randint(26, 32))
    return image


def test_glyphs_on_white_pages_do_not_chain_into_one_group():
    # Every white page has the same colour layout, and one glyph printed twice in one place is close
    # to a copy: pairs are listed, but a generated split must not treat 300 glyphs as one image.
    rng = random.Random(7)
    glyphs = [rng.choice("AX17") for _ in range(300)]
    copies = search([encoded(glyph_page(rng, glyph)) for glyph in glyphs])
    largest = np.bincount(copies.groups).max()
    assert largest <= duplicates.MAX_GROUP, f"{largest} distinct glyphs joined into one group"
    first = {}  # content id -> its first image (near pairs join contents)
    for index, content in enumerate(copies.content.tolist()):
        first.setdefault(content, index)
    # At 16 px a small "A" and "X" can look alike; most glyphs are taken for no other glyph.
    mixed = {first[i] for pair in copies.near for i in pair if glyphs[first[pair[0]]] != glyphs[first[pair[1]]]}
    assert len(mixed) < len(glyphs) // 4, f"{len(mixed)} of {len(glyphs)} glyphs taken for a copy of another glyph"


def test_a_chain_of_look_alikes_is_not_one_group():
    alike = [Fingerprint(0, bytes(48)) for _ in range(duplicates.MAX_GROUP + 5)]
    digests = [n.to_bytes(2, "big") for n in range(len(alike))] + [b"\x00\x00"]  # and one exact copy of the first
    copies = find_copies(digests, [*alike, alike[0]])
    assert len(copies.near) == len(alike) * (len(alike) - 1) // 2  # every pair is still listed
    assert len(set(copies.groups.tolist())) == len(alike)  # but only exact copies share a group
    assert copies.groups[0] == copies.groups[-1]


def test_leaked_validation_counts_validation_images_with_a_copy_in_training():
    rng = random.Random(4)
    a, b, c, d = (distinct_image(rng) for _ in range(4))
    files = [encoded(a), encoded(a), encoded(b), encoded(b, "JPEG", quality=70), encoded(c), encoded(c), encoded(d)]
    splits = ["train", "val", "train", "val", "val", "val", "val"]
    leaked = leaked_validation(search(files), splits)
    # a: exact copy across the split; b: near copy across it; c: both copies in validation; d: alone.
    assert leaked.tolist() == [False, True, False, True, False, False, False]
