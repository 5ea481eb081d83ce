"""One dedup pass: every signal adds edges between rows, one connected-components step fuses them.

Signals (the names stored in ``dup_signals``):

- ``exact_code``: equal hash of the canonical code (``normalize.canonical``);
- ``exact_image``: equal sha256 of the screenshot bytes;
- ``code_minhash``: estimated Jaccard of code shingles >= ``code_threshold`` (``minhash.MinHashIndex``);
- ``visual``: phash Hamming distance <= ``visual_threshold`` (``hamming.hamming_pairs``), confirmed
  by the dhash within the same distance and aspect ratios within 1.5x;
- ``reference``: the row's cluster holds a row of a reference set (e.g. a benchmark's pages).

Screenshots with less ink than ``min_ink`` (near-blank pages) give no image signal at all.

Rows arrive in batches (``add``, or ``add_features`` with ``features.row_features`` computed in a
worker) reduced to small per-row features; nothing large is kept. What grows with N: per row its id, a 16-byte code hash and image hash in two dicts, the
MinHash signature (4 * num_perm bytes) and LSH band keys, two 64-bit perceptual hashes and an
aspect ratio: about 1-1.5 KB per row with the defaults, so ~1-1.5 GB for a million rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from aesdata.dedup.components import components
from aesdata.dedup.features import FeatureParams, RowFeatures, row_features
from aesdata.dedup.hamming import hamming_pairs
from aesdata.dedup.minhash import MinHashIndex

SIGNALS = ("exact_code", "exact_image", "code_minhash", "visual", "reference")
_BIT = {name: np.uint8(1 << i) for i, name in enumerate(SIGNALS)}
MAX_ASPECT_RATIO = 1.5
PHASES = ("normalise", "minhash", "image", "lsh_insert", "lsh_pairs", "hamming", "cluster")


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
        self._phash: list[np.ndarray] = []
        self._dhash: list[np.ndarray] = []
        self._aspect: list[np.ndarray] = []
        self._visual_rows: list[np.ndarray] = []
        #: CPU seconds per phase: normalise, minhash, image (summed over the workers that computed
        #: the features), lsh_insert, lsh_pairs, hamming, cluster (this process)
        self.cpu_s: dict[str, float] = dict.fromkeys(PHASES, 0.0)

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

        Computes the features here; see ``add_features`` for the result.
        """
        return self.add_features(ids, row_features(kinds, codes, screenshots, self.feature_params), reference)

    @property
    def feature_params(self) -> FeatureParams:
        """What ``row_features`` needs for this pass (the same for workers elsewhere)."""
        return FeatureParams(self.params.num_perm, self.params.shingle_size, self.index.hasher.seed)

    def add_features(self, ids: Sequence[str], feats: RowFeatures, reference: bool = False) -> RowHashes:
        """Add rows by their ``row_features`` (computed with ``feature_params``, here or in a worker).

        Returns the rows' code hash, image hash and phash (hex) for the output table.
        """
        start = len(self._ids)
        self._ids.extend(str(i) for i in ids)
        self._ref.extend([reference] * len(ids))
        for offset, h in enumerate(feats.code_hash):
            if h is not None:
                self._link("exact_code", self._first_code, h, start + offset)
        visual = np.flatnonzero(feats.has_image & (feats.ink >= self.params.min_ink))
        for offset in visual.tolist():
            self._link("exact_image", self._first_image, feats.image_hash[offset], start + offset)
        self._visual_rows.append(visual + start)
        self._phash.append(feats.phash[visual])
        self._dhash.append(feats.dhash[visual])
        self._aspect.append(feats.aspect[visual])
        for phase, seconds in feats.cpu_s.items():
            self.cpu_s[phase] += seconds
        t = time.process_time()
        rows = np.arange(start, start + len(ids))
        self.index.add_signatures(rows[feats.has_shingles], feats.signatures[feats.has_shingles])
        self.cpu_s["lsh_insert"] += time.process_time() - t
        phash = [
            f"{p:016x}" if has else None
            for p, has in zip(feats.phash.tolist(), feats.has_image.tolist(), strict=True)
        ]
        return RowHashes(list(feats.code_hash), list(feats.image_hash), phash)

    def _link(self, signal: str, first: dict[str, int], key: str, row: int) -> None:
        seen = first.setdefault(key, row)
        if seen != row:
            self._exact[signal].append((seen, row))

    def _visual_edges(self) -> np.ndarray:
        rows = np.concatenate([np.empty(0, dtype=np.int64), *self._visual_rows])
        if len(rows) < 2:
            return np.empty((0, 2), dtype=np.int64)
        ph, dh, aspect = (np.concatenate(x) for x in (self._phash, self._dhash, self._aspect))
        p = hamming_pairs(ph, self.params.visual_threshold)
        a, b = p[:, 0], p[:, 1]
        ratio = np.maximum(aspect[a], aspect[b]) / np.minimum(aspect[a], aspect[b])
        ok = (np.bitwise_count(dh[a] ^ dh[b]) <= self.params.visual_threshold) & (ratio <= MAX_ASPECT_RATIO)
        return rows[p[ok]]

    def finish(self) -> DedupResult:
        """Cluster every added row; see :class:`DedupResult`."""
        edges = {name: np.array(pairs, dtype=np.int64).reshape(-1, 2) for name, pairs in self._exact.items()}
        t = time.process_time()
        edges["code_minhash"] = self.index.pairs()
        t1 = time.process_time()
        edges["visual"] = self._visual_edges()
        t2 = time.process_time()
        result = fuse(self._ids, np.array(self._ref, dtype=bool), edges)
        self.cpu_s["lsh_pairs"] += t1 - t
        self.cpu_s["hamming"] += t2 - t1
        self.cpu_s["cluster"] += time.process_time() - t2
        return result


def fuse(ids: Sequence[str], is_ref: np.ndarray, edges: dict[str, np.ndarray]) -> DedupResult:
    """Cluster rows ``ids`` (``is_ref``: reference rows) linked by ``edges`` (signal -> ``(E, 2)`` row
    pairs): one connected-components step, then each cluster's id, size and every row's signals."""
    n = len(ids)
    labels = components(n, np.concatenate([np.empty((0, 2), dtype=np.int64), *edges.values()]))
    mask = np.zeros(n, dtype=np.uint8)
    for name, pairs in edges.items():
        mask[pairs.ravel()] |= _BIT[name]
    id_array = np.array(ids, dtype=str)
    # cluster id: smallest reference id of the cluster, else its smallest id
    order = np.lexsort((id_array, ~is_ref, labels))
    first_of = np.unique(labels[order], return_index=True)[1]
    cluster_of_label = id_array[order][first_of]
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
