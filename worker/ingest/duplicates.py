"""Which images of a dataset are copies of one another: the same bytes, or near-duplicates.

Works on what ingestion already has for every kept image: the SHA-256 of its file
(computed while extracting) and its fingerprint (`fingerprints.py`, computed while
decoding), so no image is read again.

- Exact duplicates: the same SHA-256, found with a dict.
- Near-duplicates (resized, re-encoded, slightly cropped): pHash within
  PHASH_MAX_BITS bits and colour layouts within LAYOUT_MAX_DIFF levels on average.
  A pair within LAYOUT_MAX_DIFF has mean colours within it too, so the images are
  sorted by mean colour and each is compared (numpy XOR + popcount, a chunk of rows
  at a time) only with those whose mean colour is close: a fraction of all pairs.
- Groups: images joined by either kind of pair, transitively (connected components),
  what a generated split keeps on one side.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from worker.ingest.fingerprints import Fingerprint

# Measured on 10,000 generated 16-64 px images (shapes over flat, textured or noisy grounds) and
# 1,500 copies (resized, enlarged, re-encoded at JPEG quality 60, cropped 5%, or cropped, resized
# and re-encoded at once): these thresholds find 99.9% of the copies of images over 16 px (a
# pixel cut from a 16 px side is a 12% crop), and join 7 of the 50 million distinct pairs, each
# the same shape in the same place over the same ground. Missed: images that are nearly all noise,
# whose crop lost the only edges. A missed copy can leak; two look-alikes kept together cannot.
PHASH_MAX_BITS = 26
LAYOUT_MAX_DIFF = 9.0
# Rows compared at a time: CHUNK x (images of similar colour) uint64 values in memory.
CHUNK = 256
# A dataset of near-identical images (a thousand shots of one blank wall) would list pairs by
# the million; the search stops there and says so.
MAX_NEAR_PAIRS = 1_000_000


@dataclass(frozen=True)
class Copies:
    """Per image: its content id (equal bytes, equal id) and its group; near pairs between content ids."""

    content: np.ndarray  # int, one per image
    near: np.ndarray  # (k, 2) content ids, each pair once, first < second
    groups: np.ndarray  # int, one per image: images in one group are copies, directly or through others
    seconds: float  # time the comparison took (the fingerprints were made while decoding)
    truncated: bool  # True when the near search stopped at MAX_NEAR_PAIRS

    def group_sizes(self) -> np.ndarray:
        return np.bincount(self.groups)


def find_copies(digests: list[bytes], fingerprints: list[Fingerprint]) -> Copies:
    """Exact and near-duplicates among images given by their SHA-256 and fingerprint, in one order."""
    started = time.perf_counter()
    ids: dict[bytes, int] = {}
    content = np.fromiter((ids.setdefault(d, len(ids)) for d in digests), dtype=np.int64, count=len(digests))
    _, first = np.unique(content, return_index=True)  # the first image of each content, by content id
    hashes = np.fromiter((fingerprints[i].phash for i in first), dtype=np.uint64, count=len(first))
    layouts = np.frombuffer(b"".join(fingerprints[i].layout for i in first), dtype=np.uint8).reshape(len(first), -1)
    near, truncated = near_pairs(hashes, layouts)
    # Edges: every image to the first of its content, and near pairs between those first images.
    rows = np.concatenate([np.arange(len(content)), first[near[:, 0]]])
    cols = np.concatenate([first[content], first[near[:, 1]]])
    graph = coo_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(content), len(content)))
    _, groups = connected_components(graph, directed=False)
    return Copies(content, near, groups, time.perf_counter() - started, truncated)


def near_pairs(hashes: np.ndarray, layouts: np.ndarray) -> tuple[np.ndarray, bool]:
    """Index pairs (i < j) of near-duplicates among fingerprints (uint64 pHashes, n x 48 uint8 layouts)."""
    count = len(hashes)
    means = layouts.mean(axis=1, dtype=np.float32)
    order = np.argsort(means, kind="stable")
    hashes, means, layouts = hashes[order], means[order], layouts[order].astype(np.int16)
    found: list[np.ndarray] = []
    total = 0
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        # Sorted by mean colour: nothing past `end` is close enough to any row of this chunk.
        end = int(np.searchsorted(means, means[stop - 1] + LAYOUT_MAX_DIFF, side="right"))
        close = np.bitwise_count(hashes[start:stop, None] ^ hashes[None, start:end]) <= PHASH_MAX_BITS
        close &= np.abs(means[start:stop, None] - means[None, start:end]) <= LAYOUT_MAX_DIFF
        rows, cols = np.nonzero(close)
        rows, cols = rows + start, cols + start
        later = cols > rows
        rows, cols = rows[later], cols[later]
        alike = np.abs(layouts[rows] - layouts[cols]).mean(axis=1) <= LAYOUT_MAX_DIFF
        if alike.any():
            pair = np.sort(np.stack([order[rows[alike]], order[cols[alike]]], axis=1), axis=1)
            found.append(pair)
            total += len(pair)
            if total >= MAX_NEAR_PAIRS:
                return np.concatenate(found)[:MAX_NEAR_PAIRS], True
    if not found:
        return np.empty((0, 2), dtype=np.int64), False
    pairs = np.concatenate(found)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))], False


def leaked_validation(copies: Copies, splits: list[str]) -> np.ndarray:
    """Per image: True for a validation image with a copy (exact or near) in training."""
    is_train = np.array([s == "train" for s in splits], dtype=bool)
    train_per_content = np.bincount(copies.content[is_train], minlength=int(copies.content.max()) + 1)
    near_train = np.zeros(len(train_per_content), dtype=bool)
    a, b = copies.near[:, 0], copies.near[:, 1]
    near_train[a[train_per_content[b] > 0]] = True
    near_train[b[train_per_content[a] > 0]] = True
    own = copies.content
    return ~is_train & ((train_per_content[own] > 0) | near_train[own])
