"""Which images of a dataset are copies of one another: the same bytes, or near-duplicates.

Works on what ingestion already has for every kept image: the SHA-256 of its file
(computed while extracting) and its fingerprint (`fingerprints.py`, computed while
decoding), so no image is read again.

- Exact duplicates: the same SHA-256, found with a dict.
- Near-duplicates (resized, re-encoded, slightly cropped): pHash within
  PHASH_MAX_BITS bits, colour layouts within LAYOUT_MAX_DIFF levels on average and
  standardised grey details within DETAIL_MAX_DIFF on average.
  A pair within LAYOUT_MAX_DIFF has mean colours within it too, so the images are
  sorted by mean colour and each is compared (numpy XOR + popcount, a chunk of rows
  at a time) only with those whose mean colour is close: a fraction of all pairs.
- Groups: images joined by either kind of pair, transitively (connected components),
  what a generated split keeps on one side. Look-alikes can chain (a is like b, b like
  c, ...): a component of more than MAX_GROUP distinct images is not taken as copies of
  one image, and only its exact copies stay together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from worker.ingest.fingerprints import Fingerprint

# Measured on bench/synthetic.py's sets and copies of their images: resized to 70% and re-encoded at
# JPEG quality 60 are found (pHash at most 12 bits apart in 99% of them); cropped 2.5% a side, most
# (all but a few percent); 5% a side, about half. Distinct images joined, in the whole sets: none of
# 2,400 photos, 5 pairs among 1,920 scanned glyphs and 137 among 1,680 pen drawings (simple symbols
# that look the same at 16 px), the largest group 8. The looser first thresholds (26 bits and the
# colour layout alone) chained 1,494 of the 1,920 scans and 1,561 of the 1,680 drawings into one
# "copy". A missed copy can leak; look-alikes kept together only move a few images across the split.
PHASH_MAX_BITS = 12
LAYOUT_MAX_DIFF = 9.0
DETAIL_MAX_DIFF = 0.3
# More distinct images than this joined into one component are look-alikes, not copies.
MAX_GROUP = 8
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
    details = standardised(b"".join(fingerprints[i].detail for i in first), len(first))
    near, truncated = near_pairs(hashes, layouts, details)
    # Edges: every image to the first of its content, and near pairs between those first images.
    rows = np.concatenate([np.arange(len(content)), first[near[:, 0]]])
    cols = np.concatenate([first[content], first[near[:, 1]]])
    graph = coo_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(content), len(content)))
    _, groups = connected_components(graph, directed=False)
    return Copies(content, near, _split_chains(groups, content), time.perf_counter() - started, truncated)


def _split_chains(groups: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Groups with more than MAX_GROUP distinct contents fall apart into their exact copies."""
    pairs = np.unique(np.stack([groups, content], axis=1), axis=0)
    distinct = np.bincount(pairs[:, 0], minlength=int(groups.max()) + 1 if len(groups) else 0)
    chained = distinct[groups] > MAX_GROUP
    if not chained.any():
        return groups
    groups = groups.copy()
    groups[chained] = groups.max() + 1 + content[chained]
    return np.unique(groups, return_inverse=True)[1].reshape(-1)


def standardised(details: bytes, count: int) -> np.ndarray:
    """Grey details as float32 rows with their own mean 0 and contrast 1 (plus a floor for blank images)."""
    rows = np.frombuffer(details, dtype=np.uint8).reshape(count, -1).astype(np.float32)
    rows -= rows.mean(axis=1, keepdims=True)
    return rows / (rows.std(axis=1, keepdims=True) + 8.0)


def near_pairs(hashes: np.ndarray, layouts: np.ndarray, details: np.ndarray) -> tuple[np.ndarray, bool]:
    """Index pairs (i < j) of near-duplicates (uint64 pHashes, n x 48 uint8 layouts, n x 256 standardised details)."""
    count = len(hashes)
    means = layouts.mean(axis=1, dtype=np.float32)
    order = np.argsort(means, kind="stable")
    hashes, means, layouts, details = hashes[order], means[order], layouts[order].astype(np.int16), details[order]
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
        rows, cols = rows[alike], cols[alike]
        alike = np.abs(details[rows] - details[cols]).mean(axis=1) <= DETAIL_MAX_DIFF
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
