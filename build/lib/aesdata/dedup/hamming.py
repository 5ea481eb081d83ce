"""All pairs of 64-bit hashes within a Hamming radius, without comparing all pairs.

Written by hand: imagehash compares two hashes, and no well-kept library here indexes millions of
64-bit codes for an exact radius search. The method is multi-index hashing (Norouzi, Punjani & Fleet,
"Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012), vectorised with numpy:

- Split the 64 bits into ``m`` blocks and give block ``i`` a sub-radius ``s_i`` with
  ``sum(s_i + 1) == radius + 1``. By pigeonhole, two codes within ``radius`` agree on some block
  ``i`` up to ``s_i`` flipped bits (if every block differed by more, the total would exceed radius);
  a block with ``s_i = -1`` (more blocks than ``radius + 1``, for small radii) is not probed at all.
- Per block, a direct-address table (counts + offsets over all ``2**bits`` block values) lists the
  codes having each block value. Every code probes its block value XOR every mask of at most
  ``s_i`` bits; the codes found are candidates, verified exactly with a popcount of the XOR.
- ``m`` is picked from a cost model: probes grow as ``N * sum(C(bits, <=s_i))`` and chance
  candidates as ``N**2 / 2**bits``; with ``radius=8`` and ~1M codes that is 3 blocks of ~21 bits.
  Exact repeats are collapsed first, so clusters of identical hashes cost nothing.

The result is exact (no pair within the radius is missed). Memory: the codes (8 B each), one
``int32`` order array per block (4 B per code) and the block tables (``2**bits * 8`` B per block,
at most 2**22 entries), plus the verified pairs.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

from aesdata.dedup.components import components

_MAX_BLOCK_BITS = 22
_CHUNK_PROBES = 4_000_000  # probes materialised at once (bounds temporary memory)


def _plan(n: int, radius: int) -> list[tuple[int, int, int]]:
    """Choose blocks for ``n`` codes: a list of ``(shift, bits, sub_radius)`` covering all 64 bits."""
    best: tuple[float, list[tuple[int, int, int]]] | None = None
    for m in range(1, max(radius + 2, 4)):
        widths = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
        if max(widths) > _MAX_BLOCK_BITS:
            continue
        subs = [(radius + 1) // m - 1 + (1 if i < (radius + 1) % m else 0) for i in range(m)]
        probes = [sum(comb(w, k) for k in range(s + 1)) for w, s in zip(widths, subs, strict=True)]
        cost = sum(n * p * (1.0 + n / 2.0**w) for p, w in zip(probes, widths, strict=True))
        shifts = np.cumsum([0, *widths[:-1]]).tolist()
        plan = [(int(sh), w, s) for sh, w, s in zip(shifts, widths, subs, strict=True)]
        if best is None or cost < best[0]:
            best = (cost, plan)
    assert best is not None, "radius too large for 64-bit multi-index hashing"
    return best[1]


def _masks(bits: int, sub_radius: int) -> np.ndarray:
    """Every ``bits``-wide mask with at most ``sub_radius`` set bits, as uint64."""
    out = [0]
    for k in range(1, sub_radius + 1):
        out.extend(sum(1 << b for b in combo) for combo in combinations(range(bits), k))
    return np.array(out, dtype=np.uint64)


def _block_pairs(codes: np.ndarray, shift: int, bits: int, sub_radius: int, radius: int) -> np.ndarray:
    """Verified pairs ``(i, j)`` with ``i < j`` that agree on one block up to ``sub_radius`` bits."""
    n = len(codes)
    keys = ((codes >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
    order = np.argsort(keys, kind="stable").astype(np.int32)
    counts = np.bincount(keys, minlength=1 << bits).astype(np.int32)
    starts = (np.cumsum(counts, dtype=np.int64) - counts).astype(np.int64)
    masks = _masks(bits, sub_radius).astype(np.int64)
    step = max(1, _CHUNK_PROBES // len(masks))
    found = []
    for lo in range(0, n, step):
        q = np.arange(lo, min(n, lo + step), dtype=np.int64)
        probes = keys[q, None] ^ masks[None, :]
        cnt = counts[probes]
        hit = np.nonzero(cnt)
        if len(hit[0]) == 0:
            continue
        c = cnt[hit].astype(np.int64)
        st = starts[probes[hit]]
        total = int(c.sum())
        first = np.repeat(np.cumsum(c) - c, c)
        pos = np.repeat(st, c) + (np.arange(total, dtype=np.int64) - first)
        i = np.repeat(q[hit[0]], c)
        j = order[pos].astype(np.int64)
        keep = i < j
        i, j = i[keep], j[keep]
        close = np.bitwise_count(codes[i] ^ codes[j]) <= radius
        found.append(np.stack([i[close], j[close]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.concatenate(found)


def hamming_pairs(codes: np.ndarray, radius: int) -> np.ndarray:
    """All index pairs ``(i, j)``, ``i < j``, of ``codes`` (uint64) within Hamming distance ``radius``.

    Returns an ``(E, 2)`` int64 array; each pair appears once. Rows with identical codes are
    paired as a star onto the first of them (enough for connected components), not all-pairs.
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint64)
    if len(codes) < 2:
        return np.empty((0, 2), dtype=np.int64)
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rep = first[inverse]  # each row -> first row with the same code
    same = np.nonzero(rep != np.arange(len(codes)))[0]
    pairs = [np.stack([rep[same], same], axis=1).astype(np.int64)]
    if len(uniq) > 1:
        for shift, bits, sub in _plan(len(uniq), radius):
            p = _block_pairs(uniq, shift, bits, sub, radius)
            pairs.append(np.stack([first[p[:, 0]], first[p[:, 1]]], axis=1))
    out = np.sort(np.concatenate(pairs), axis=1)
    n = np.int64(len(codes))
    flat = np.unique(out[:, 0] * n + out[:, 1])
    return np.stack([flat // n, flat % n], axis=1)


def hamming_clusters(codes: np.ndarray, radius: int) -> np.ndarray:
    """Cluster label of each code: connected components of the within-``radius`` graph."""
    return components(len(codes), hamming_pairs(codes, radius))
