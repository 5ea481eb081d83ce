"""Per-row dedup features of a batch of rows: what a worker computes from one shard and sends back.

``row_features`` turns code and screenshots into compact arrays: the exact code hash, the code's
MinHash signature, and the screenshot's byte hash, perceptual hashes, aspect ratio and ink. Nothing
large survives the call (decoded images and shingles are dropped), so a worker's answer is about
``4 * num_perm + 60`` bytes per row. ``aesdata.dedup.partitioned`` runs it per input part, as a task.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aesdata.dedup.minhash import OnePermutationMinHash
from aesdata.dedup.shingles import code_features_batch
from aesdata.dedup.visual import image_signals


@dataclass(frozen=True)
class FeatureParams:
    """What ``row_features`` needs: MinHash length and seed, and tokens per shingle."""

    num_perm: int = 128
    shingle_size: int = 5
    seed: int = 1


@dataclass
class RowFeatures:
    """Dedup features of ``n`` rows.

    ``code_hash`` / ``image_hash``: hex or None (no code / no screenshot); ``signatures``:
    ``(n, num_perm)`` uint32, rows without shingles all ``0xFFFFFFFF`` and ``has_shingles`` False;
    ``phash`` / ``dhash`` (uint64), ``aspect`` and ``ink`` (float64) are meaningful where
    ``has_image``; ``cpu_s``: CPU seconds spent per phase (normalise, minhash, image).
    """

    code_hash: list[str | None]
    signatures: np.ndarray
    has_shingles: np.ndarray
    image_hash: list[str | None]
    phash: np.ndarray
    dhash: np.ndarray
    aspect: np.ndarray
    ink: np.ndarray
    has_image: np.ndarray
    cpu_s: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.code_hash)


def row_features(
    kinds: Sequence[str],
    codes: Sequence[str | None],
    screenshots: Sequence[bytes | None],
    params: FeatureParams,
) -> RowFeatures:
    """Features of a batch of rows: ``kinds`` html | plot, ``codes`` text or None, ``screenshots`` PNG
    bytes or None (no usable render)."""
    n = len(codes)
    t = time.process_time()
    with_code = [i for i, c in enumerate(codes) if c]
    hashes, flat, sizes = code_features_batch(
        [codes[i] for i in with_code], [kinds[i] for i in with_code], params.shingle_size
    )
    code_hash: list[str | None] = [None] * n
    all_sizes = np.zeros(n, dtype=np.int64)
    for i, h in zip(with_code, hashes, strict=True):
        code_hash[i] = h
    all_sizes[with_code] = sizes
    t1 = time.process_time()
    sig = OnePermutationMinHash(params.num_perm, params.seed).signatures_flat(flat, all_sizes)
    t2 = time.process_time()
    image_hash: list[str | None] = [None] * n
    phash = np.zeros(n, dtype=np.uint64)
    dhash = np.zeros(n, dtype=np.uint64)
    aspect = np.zeros(n, dtype=np.float64)
    ink = np.zeros(n, dtype=np.float64)
    for i, png in enumerate(screenshots):
        if png:
            s = image_signals(png)
            image_hash[i], phash[i], dhash[i], aspect[i], ink[i] = s.sha, s.phash, s.dhash, s.aspect, s.ink
    t3 = time.process_time()
    return RowFeatures(
        code_hash=code_hash,
        signatures=sig,
        has_shingles=all_sizes > 0,
        image_hash=image_hash,
        phash=phash,
        dhash=dhash,
        aspect=aspect,
        ink=ink,
        has_image=np.array([h is not None for h in image_hash], dtype=bool),
        cpu_s={"normalise": t1 - t, "minhash": t2 - t1, "image": t3 - t2},
    )
