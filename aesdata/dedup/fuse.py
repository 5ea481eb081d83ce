"""One dedup pass: every signal adds edges between rows, one connected-components step fuses them.

Signals (the names stored in ``dup_signals``):

- ``exact_code``: equal hash of the canonical code (``normalize.canonical``);
- ``exact_image``: equal sha256 of the screenshot bytes;
- ``code_minhash``: estimated Jaccard of code shingles >= ``code_threshold`` (``minhash.MinHashIndex``);
- ``visual``: phash Hamming distance <= ``visual_threshold`` (``hamming.hamming_pairs``), confirmed
  by the dhash within the same distance and aspect ratios within 1.5x;
- ``reference``: the row's cluster holds a row of a reference set (e.g. a benchmark's pages).

Screenshots with less ink than ``min_ink`` (near-blank pages) give no image signal at all.

Rows arrive in batches (``add``) and are reduced at once to small per-row features; nothing large
is kept. What grows with N: per row its id, a 16-byte code hash and image hash in two dicts, the
MinHash signature (4 * num_perm bytes) and LSH band keys, two 64-bit perceptual hashes and an
aspect ratio: about 1-1.5 KB per row with the defaults, so ~1-1.5 GB for a million rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aesdata.dedup.components import components
from aesdata.dedup.hamming import hamming_pairs
from aesdata.dedup.minhash import MinHashIndex
from aesdata.dedup.normalize import code_features
from aesdata.dedup.visual import image_signals

SIGNALS = ("exact_code", "exact_image", "code_minhash", "visual", "reference")
_BIT = {name: np.uint8(1 << i) for i, name in enumerate(SIGNALS)}
_MAX_ASPECT_RATIO = 1.5


@dataclass(frozen=True)
class DedupParams:
    """Thresholds of one dedup pass (see ``aesdata.stages.dedup.DedupConfig`` for their meaning)."""

    code_threshold: float = 0.8
    num_perm: int = 128
    shingle_size: int = 5
    visual_threshold: int = 8
    min_ink: float = 0.02


@dataclass
class RowHashes:
    """Per-row hashes of one added batch, as the stage writes them (None where a signal is absent)."""

    code_hash: list[str | None] = field(default_factory=list)
    image_hash: list[str | None] = field(default_factory=list)
    phash: list[str | None] = field(default_factory=list)


@dataclass
class DedupResult:
    """Outcome for every added row (in order of addition, reference rows included).

    ``cluster_id``: the smallest reference id in the cluster if it has one, else its smallest id;
    ``cluster_size``: non-reference members; ``dup_signals``: comma list of the signals that linked
    the row (None for a singleton); ``is_reference``: reference rows; ``edges``: per signal, the
    ``(E, 2)`` row pairs it linked (for per-signal evaluation).
    """

    cluster_id: list[str]
    cluster_size: np.ndarray
    dup_signals: list[str | None]
    is_reference: np.ndarray
    edges: dict[str, np.ndarray]


class Deduper:
    """Accumulates rows (``add``) and clusters them (``finish``)."""

    def __init__(self, params: DedupParams | None = None) -> None:
        self.params = params or DedupParams()
        self.index = MinHashIndex(self.params.code_threshold, self.params.num_perm)
        self._ids: list[str] = []
        self._ref: list[bool] = []
        self._first_code: dict[str, int] = {}
        self._first_image: dict[str, int] = {}
        self._exact: dict[str, list[tuple[int, int]]] = {"exact_code": [], "exact_image": []}
        self._phash: list[int] = []
        self._dhash: list[int] = []
        self._aspect: list[float] = []
        self._visual_rows: list[int] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(
        self,
        ids: Sequence[str],
        kinds: Sequence[str],
        codes: Sequence[str | None],
        screenshots: Sequence[bytes | None],
        reference: bool = False,
    ) -> RowHashes:
        """Add a batch of rows; ``kinds`` are html | plot, ``screenshots`` PNG bytes or None (no usable render).

        Returns the rows' code hash, image hash and phash (hex) for the output table.
        """
        out = RowHashes()
        start = len(self._ids)
        shingles: list[np.ndarray] = []
        for offset, (row_id, kind, code, png) in enumerate(zip(ids, kinds, codes, screenshots, strict=True)):
            row = start + offset
            self._ids.append(str(row_id))
            self._ref.append(reference)
            code_h = None
            sh = np.empty(0, dtype=np.uint64)
            if code:
                code_h, sh = code_features(code, kind, self.params.shingle_size)
                self._link("exact_code", self._first_code, code_h, row)
            shingles.append(sh)
            out.code_hash.append(code_h)
            image_h = phash = None
            if png:
                sig = image_signals(png)
                image_h, phash = sig.sha, f"{sig.phash:016x}"
                if sig.ink >= self.params.min_ink:
                    self._link("exact_image", self._first_image, sig.sha, row)
                    self._visual_rows.append(row)
                    self._phash.append(sig.phash)
                    self._dhash.append(sig.dhash)
                    self._aspect.append(sig.aspect)
            out.image_hash.append(image_h)
            out.phash.append(phash)
        self.index.add(np.arange(start, start + len(shingles)), shingles)
        return out

    def _link(self, signal: str, first: dict[str, int], key: str, row: int) -> None:
        seen = first.setdefault(key, row)
        if seen != row:
            self._exact[signal].append((seen, row))

    def _visual_edges(self) -> np.ndarray:
        if len(self._visual_rows) < 2:
            return np.empty((0, 2), dtype=np.int64)
        ph = np.array(self._phash, dtype=np.uint64)
        dh = np.array(self._dhash, dtype=np.uint64)
        aspect = np.array(self._aspect, dtype=np.float64)
        p = hamming_pairs(ph, self.params.visual_threshold)
        a, b = p[:, 0], p[:, 1]
        ratio = np.maximum(aspect[a], aspect[b]) / np.minimum(aspect[a], aspect[b])
        ok = (np.bitwise_count(dh[a] ^ dh[b]) <= self.params.visual_threshold) & (ratio <= _MAX_ASPECT_RATIO)
        rows = np.array(self._visual_rows, dtype=np.int64)
        return rows[p[ok]]

    def finish(self) -> DedupResult:
        """Cluster every added row; see :class:`DedupResult`."""
        n = len(self._ids)
        edges = {name: np.array(pairs, dtype=np.int64).reshape(-1, 2) for name, pairs in self._exact.items()}
        edges["code_minhash"] = self.index.pairs()
        edges["visual"] = self._visual_edges()
        labels = components(n, np.concatenate(list(edges.values())))
        is_ref = np.array(self._ref, dtype=bool)
        mask = np.zeros(n, dtype=np.uint8)
        for name, pairs in edges.items():
            mask[pairs.ravel()] |= _BIT[name]
        ids = np.array(self._ids, dtype=str)
        # cluster id: smallest reference id of the cluster, else its smallest id
        order = np.lexsort((ids, ~is_ref, labels))
        first_of = np.unique(labels[order], return_index=True)[1]
        cluster_of_label = ids[order][first_of]
        ref_labels = np.unique(labels[is_ref])
        in_ref_cluster = np.isin(labels, ref_labels)
        mask[in_ref_cluster] |= _BIT["reference"]
        size_of_label = np.bincount(
            labels, weights=(~is_ref).astype(np.float64), minlength=len(cluster_of_label)
        ).astype(np.int64)
        signals = [",".join(name for name in SIGNALS if m & _BIT[name]) or None for m in mask.tolist()]
        return DedupResult(
            cluster_id=cluster_of_label[labels].tolist(),
            cluster_size=size_of_label[labels],
            dup_signals=signals,
            is_reference=is_ref,
            edges=edges,
        )
