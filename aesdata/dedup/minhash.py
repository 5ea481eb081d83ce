"""Code near-duplicates: MinHash signatures of code shingles, indexed with datasketch's MinHashLSH.

- Signatures are one-permutation MinHash with optimal densification (Li, Owen & Zhang 2012;
  Shrivastava 2017): each shingle is hashed once; its top bits pick one of ``num_perm`` bins and
  the bin keeps the smallest remaining bits; empty bins borrow from a bin chosen by a fixed
  per-bin probe sequence, the same for every document, so equal positions still estimate Jaccard
  similarity. Written by hand (vectorised over a batch of documents with numpy) because datasketch's
  ``MinHash.bulk`` applies ``num_perm`` affine permutations to every shingle in a per-value Python loop:
  measured in ``bench/bench_dedup.py`` it is far too slow for 100k pages. The signatures are
  ordinary ``LeanMinHash`` objects (scheme ``affine32``: 32-bit values) for the library's LSH.
- The index is ``datasketch.MinHashLSH``: bands and rows come from the Jaccard threshold via the
  library's own optimal-parameter search (``lsh.b``, ``lsh.r``); band keys are compressed to 8 bytes.
- Candidates (rows sharing a band) are verified: a pair is kept when the share of equal signature
  positions (the Jaccard estimate) reaches the threshold. Buckets of up to ``ALL_PAIRS_MAX`` rows are
  checked pair by pair, larger ones against their first row only (linear, not quadratic).

Memory grows with N: the signatures (``4 * num_perm`` bytes per row) and the LSH index (``b`` band
keys of 8 bytes plus Python dict/set overhead per row, ~100 B per band).
"""

from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

from aesdata.dedup.shingles import mix64

_EMPTY = np.uint32(0xFFFFFFFF)
_PROBE_ROUNDS = 64
ALL_PAIRS_MAX = 16


def _band_key(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=8).digest()


class OnePermutationMinHash:
    """Computes ``num_perm``-long MinHash signatures (uint32) of shingle-hash sets, many at once."""

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        if num_perm < 2 or num_perm & (num_perm - 1):
            raise ValueError("num_perm must be a power of two >= 2")
        self.num_perm = num_perm
        self.seed = seed
        self._shift = np.uint64(64 - (num_perm.bit_length() - 1))
        bins = np.arange(num_perm, dtype=np.uint64)[:, None]
        rounds = np.arange(1, _PROBE_ROUNDS + 1, dtype=np.uint64)[None, :]
        with np.errstate(over="ignore"):
            probe = mix64(
                bins * np.uint64(0x9E3779B97F4A7C15) + rounds + np.uint64(seed) * np.uint64(1 << 32)
            )
        self._probe = (probe % np.uint64(num_perm)).astype(np.int64)  # (num_perm, rounds)

    def signatures(self, shingle_sets: list[np.ndarray]) -> np.ndarray:
        """Signatures of each set of uint64 shingle hashes: ``(len(shingle_sets), num_perm)`` uint32.

        An empty set gives an all-``0xFFFFFFFF`` row; callers leave such rows out of the index.
        """
        sizes = np.array([len(s) for s in shingle_sets], dtype=np.int64)
        flat = np.concatenate(shingle_sets) if shingle_sets else np.empty(0, dtype=np.uint64)
        return self.signatures_flat(flat, sizes)

    def signatures_flat(self, flat: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """``signatures`` of sets given back to back: ``flat`` (uint64) holds ``sizes[i]`` hashes of set ``i``."""
        n, k = len(sizes), self.num_perm
        sig = np.full((n, k), _EMPTY, dtype=np.uint32)
        if n == 0 or sizes.sum() == 0:
            return sig
        doc = np.repeat(np.arange(n, dtype=np.int64), sizes)
        with np.errstate(over="ignore"):
            h = mix64(flat.astype(np.uint64) ^ np.uint64(self.seed * 0x2545F4914F6CDD1D))
        cell = doc * k + (h >> self._shift).astype(np.int64)
        np.minimum.at(sig.reshape(-1), cell, (h & np.uint64(0xFFFFFFFF)).astype(np.uint32))
        filled = np.zeros(n * k, dtype=bool)
        filled[cell] = True
        filled = filled.reshape(n, k)
        empty_rows, empty_bins = np.nonzero(~filled & (sizes > 0)[:, None])
        for r in range(_PROBE_ROUNDS):  # optimal densification
            if len(empty_rows) == 0:
                break
            src = self._probe[empty_bins, r]
            ok = filled[empty_rows, src]
            sig[empty_rows[ok], empty_bins[ok]] = sig[empty_rows[ok], src[ok]]
            empty_rows, empty_bins = empty_rows[~ok], empty_bins[~ok]
        return sig


class MinHashIndex:
    """An LSH index of code signatures; ``add`` batches of rows, then ``pairs()`` gives verified links."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, seed: int = 1) -> None:
        self.threshold = threshold
        self.hasher = OnePermutationMinHash(num_perm, seed)
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, hashfunc=_band_key)
        self._sigs: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []

    @property
    def bands_rows(self) -> tuple[int, int]:
        """``(b, r)``: LSH bands and rows per band chosen by datasketch for the threshold."""
        return self.lsh.b, self.lsh.r

    def add(self, rows: np.ndarray, shingle_sets: list[np.ndarray]) -> None:
        """Index the shingle sets of ``rows`` (global row numbers, int); empty sets are left out."""
        keep = np.array([len(s) > 0 for s in shingle_sets], dtype=bool)
        self.add_signatures(
            np.asarray(rows, dtype=np.int64)[keep],
            self.hasher.signatures([s for s in shingle_sets if len(s)]),
        )

    def add_signatures(self, rows: np.ndarray, signatures: np.ndarray) -> None:
        """Index precomputed ``self.hasher`` signatures (``(len(rows), num_perm)`` uint32) of ``rows``."""
        with self.lsh.insertion_session() as session:
            for row, values in zip(rows.tolist(), signatures, strict=True):
                session.insert(row, LeanMinHash(seed=self.hasher.seed, hashvalues=values, scheme="affine32"))
        self._sigs.append(signatures)
        self._rows.append(rows)

    def pairs(self) -> np.ndarray:
        """Verified near-duplicate row pairs ``(E, 2)`` (global row numbers, smaller first)."""
        if not self._rows:
            return np.empty((0, 2), dtype=np.int64)
        rows = np.concatenate(self._rows)
        sigs = np.concatenate(self._sigs)
        where = {int(r): i for i, r in enumerate(rows.tolist())}
        cand: set[tuple[int, int]] = set()
        for table in self.lsh.hashtables:
            for key in table.keys():
                members = table.get(key)
                if len(members) < 2:
                    continue
                ordered = sorted(members)
                if len(ordered) <= ALL_PAIRS_MAX:
                    cand.update(combinations(ordered, 2))
                else:
                    cand.update((ordered[0], m) for m in ordered[1:])
        if not cand:
            return np.empty((0, 2), dtype=np.int64)
        pairs = np.array(sorted(cand), dtype=np.int64)
        a = np.array([where[x] for x in pairs[:, 0].tolist()])
        b = np.array([where[x] for x in pairs[:, 1].tolist()])
        similar = np.empty(len(pairs), dtype=bool)
        for lo in range(0, len(pairs), 100_000):
            sl = slice(lo, lo + 100_000)
            similar[sl] = (sigs[a[sl]] == sigs[b[sl]]).mean(axis=1) >= self.threshold
        return pairs[similar]
