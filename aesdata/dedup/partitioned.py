"""Dedup as independent tasks over files: features per part, the index split into partitions, components.

The same signals and clusters as ``fuse.Deduper`` (one process), cut so that no task holds more than a
few small columns of every row, and the driver holds nothing per row:

1. ``write_features`` (one task per input part: a run shard or a reference file): ``features.row_features``
   in batches, written as ``<part>.parquet`` (id, code and image hashes, perceptual hashes, aspect, ink)
   and ``<part>.sig.npy`` (MinHash signatures, read back memory-mapped). Parts are numbered in order
   (reference files first, then the run's shards), so every row has one global row number.
2. Edge tasks, each writing an ``(E, 2)`` array of global row pairs:
   - ``exact_edges``: equal code (or screenshot) hash, partitioned by hash prefix; a star onto the
     group's first row, as ``Deduper`` links them;
   - ``band_edges``: one LSH band of the MinHash signatures (bands and rows per band from datasketch's
     optimal parameters for the threshold): rows with equal band values are candidates (a bucket of at
     most ``minhash.ALL_PAIRS_MAX`` rows pair by pair, a larger one as a star onto its first row, as
     ``MinHashIndex.pairs``), verified on the full signatures;
   - ``visual_edges``: one segment of the pigeonhole split of the 64-bit phash into ``radius + 1``
     segments: two hashes within ``radius`` agree exactly on at least one segment, so the rows of each
     segment value form a bucket searched exactly with ``hamming.hamming_pairs``; pairs are confirmed by
     the dhash and aspect ratio. The union over segments is exactly ``Deduper``'s visual edge set.
3. ``cluster_parts`` (one task): connected components over every edge file (``fuse.fuse``), the cluster
   id, size and signals of each row written per part as ``<part>.clusters.parquet``.

Written by hand: the partitioned plan over these files is this project's; the pieces it runs (row
features, Hamming search, components) are the same functions the one-process ``Deduper`` uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from aesdata.dedup.features import FeatureParams, RowFeatures, row_features
from aesdata.dedup.fuse import MAX_ASPECT_RATIO, SIGNALS, fuse
from aesdata.dedup.hamming import hamming_pairs
from aesdata.dedup.minhash import ALL_PAIRS_MAX

_BATCH_ROWS = 256
#: phash buckets of at most this many distinct hashes are checked pair by pair
_SMALL_BUCKET = 64
_FEATURE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("code_hash", pa.string()),
        ("image_hash", pa.string()),
        ("phash", pa.uint64()),
        ("dhash", pa.uint64()),
        ("aspect", pa.float64()),
        ("ink", pa.float64()),
        ("has_image", pa.bool_()),
        ("has_shingles", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class Part:
    """One part's feature files (``base`` + ``.parquet`` / ``.sig.npy``), its first global row and rows."""

    base: Path
    start: int
    rows: int
    reference: bool

    def features(self, columns: list[str]) -> pa.Table:
        return pq.read_table(self.base.with_suffix(".parquet"), columns=columns)

    def signatures(self) -> np.ndarray:
        return np.load(self.base.with_suffix(".sig.npy"), mmap_mode="r")

    @property
    def clusters_path(self) -> Path:
        return self.base.with_suffix(".clusters.parquet")


def _replace(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)


def write_features(
    base: Path,
    ids: list[str],
    kinds: list[str],
    codes: list[str | None],
    screenshots: list[bytes | None],
    params: FeatureParams,
) -> dict[str, Any]:
    """Compute the rows' features in batches and write ``base``'s feature files; return rows and CPU s."""
    feats: list[RowFeatures] = []
    for lo in range(0, len(ids), _BATCH_ROWS):
        sl = slice(lo, lo + _BATCH_ROWS)
        feats.append(row_features(kinds[sl], codes[sl], screenshots[sl], params))
    cat = np.concatenate
    cols = {
        "id": ids,
        "code_hash": [h for f in feats for h in f.code_hash],
        "image_hash": [h for f in feats for h in f.image_hash],
        "phash": cat([np.empty(0, np.uint64), *(f.phash for f in feats)]),
        "dhash": cat([np.empty(0, np.uint64), *(f.dhash for f in feats)]),
        "aspect": cat([np.empty(0), *(f.aspect for f in feats)]),
        "ink": cat([np.empty(0), *(f.ink for f in feats)]),
        "has_image": cat([np.empty(0, bool), *(f.has_image for f in feats)]),
        "has_shingles": cat([np.empty(0, bool), *(f.has_shingles for f in feats)]),
    }
    sig = cat([np.empty((0, params.num_perm), np.uint32), *(f.signatures for f in feats)])
    base.parent.mkdir(parents=True, exist_ok=True)
    tmp = base.with_name(f".{base.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, sig)
    _replace(tmp, base.with_suffix(".sig.npy"))
    pq.write_table(pa.Table.from_pydict(cols, schema=_FEATURE_SCHEMA), tmp)
    _replace(tmp, base.with_suffix(".parquet"))
    cpu: dict[str, float] = {}
    for f in feats:
        for k, v in f.cpu_s.items():
            cpu[k] = cpu.get(k, 0.0) + v
    return {"rows": len(ids), "cpu_s": cpu}


def _save_edges(path: Path, pairs: np.ndarray) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        np.save(f, np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
    _replace(tmp, path)
    return len(pairs)


def load_edges(paths: list[Path]) -> np.ndarray:
    """The row pairs of several edge files, deduplicated (``(E, 2)`` int64)."""
    pairs = np.concatenate([np.empty((0, 2), np.int64), *(np.load(p) for p in paths)])
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _stars(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Pairs (first row of its key, row) for every row whose key an earlier row has."""
    if len(rows) < 2:
        return np.empty((0, 2), np.int64)
    order = np.lexsort((rows, keys))
    k, r = keys[order], rows[order]
    new = np.ones(len(k), dtype=bool)
    new[1:] = k[1:] != k[:-1]
    first = r[np.maximum.accumulate(np.where(new, np.arange(len(r)), 0))]
    return np.stack([first[~new], r[~new]], axis=1)


def exact_edges(
    parts: list[Part], signal: str, partition: int, n_partitions: int, min_ink: float, out: Path
) -> int:
    """``exact_code`` / ``exact_image`` edges among the rows whose hash falls in ``partition``."""
    column = "code_hash" if signal == "exact_code" else "image_hash"
    keys, rows = [], []
    for part in parts:
        t = part.features([column, "has_image", "ink"])
        h = t.column(column).to_pylist()
        ok = np.array([x is not None for x in h], dtype=bool)
        if signal == "exact_image":
            ok &= t.column("has_image").to_numpy(zero_copy_only=False)
            ok &= t.column("ink").to_numpy() >= min_ink
        idx = np.flatnonzero(ok)
        k = np.array([int(h[i], 16) for i in idx.tolist()], dtype=np.uint64)
        mine = (k % np.uint64(n_partitions)) == partition
        keys.append(k[mine])
        rows.append(idx[mine] + part.start)
    key = np.concatenate([np.empty(0, np.uint64), *keys])
    row = np.concatenate([np.empty(0, np.int64), *rows])
    return _save_edges(out, _stars(key, row))


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of each run of equal values in sorted ``keys``."""
    starts = np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1]).astype(np.int64)
    return starts, np.diff(np.concatenate([starts, [len(keys)]]))


def _all_pairs(starts: np.ndarray, size: int) -> np.ndarray:
    """Positions ``(i, j)``, ``i < j``, of every pair within groups of ``size`` starting at ``starts``."""
    i, j = np.array(list(combinations(range(size), 2))).T
    return np.stack([(starts[:, None] + i).ravel(), (starts[:, None] + j).ravel()], axis=1)


def _bucket_pairs(groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Candidate pairs from buckets (``groups``: bucket of each row, rows sorted by bucket then row):
    all pairs of a bucket of at most ``ALL_PAIRS_MAX`` rows, a star onto the first row of a larger one."""
    out = [np.empty((0, 2), np.int64)]
    starts, sizes = _groups(groups)
    for size in np.unique(sizes[sizes >= 2]).tolist():
        at = starts[sizes == size]
        if size <= ALL_PAIRS_MAX:
            out.append(rows[_all_pairs(at, size)])
        else:
            members = at[:, None] + np.arange(1, size)
            out.append(np.stack([np.repeat(rows[at], size - 1), rows[members].ravel()], axis=1))
    return np.concatenate(out)


def _gather_signatures(parts: list[Part], rows: np.ndarray) -> np.ndarray:
    """Full signatures of global ``rows`` (any order), read from the parts' memory-mapped files."""
    starts = np.array([p.start for p in parts])
    which = np.searchsorted(starts, rows, side="right") - 1
    out = np.empty((len(rows), 0), np.uint32)
    chunks = []
    for k in np.unique(which).tolist():
        sel = np.flatnonzero(which == k)
        chunks.append((sel, np.asarray(parts[k].signatures()[rows[sel] - parts[k].start])))
    if chunks:
        out = np.empty((len(rows), chunks[0][1].shape[1]), np.uint32)
        for sel, sig in chunks:
            out[sel] = sig
    return out


def band_edges(parts: list[Part], lo: int, hi: int, threshold: float, out: Path) -> int:
    """Verified ``code_minhash`` pairs among rows sharing signature band ``[lo, hi)``."""
    rows, bands = [], []
    for part in parts:
        has = part.features(["has_shingles"]).column("has_shingles").to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(has)
        rows.append(idx + part.start)
        bands.append(np.ascontiguousarray(part.signatures()[idx, lo:hi]))
    row = np.concatenate([np.empty(0, np.int64), *rows])
    band = np.concatenate([np.empty((0, hi - lo), np.uint32), *bands])
    if len(row) < 2:
        return _save_edges(out, np.empty((0, 2)))
    keys = band.view(np.dtype((np.void, band.dtype.itemsize * (hi - lo)))).ravel()
    _, group = np.unique(keys, return_inverse=True)
    order = np.lexsort((row, group))
    cand = _bucket_pairs(group[order], row[order])
    if len(cand) == 0:
        return _save_edges(out, cand)
    a = _gather_signatures(parts, cand[:, 0])
    b = _gather_signatures(parts, cand[:, 1])
    similar = np.empty(len(cand), dtype=bool)
    for s in range(0, len(cand), 100_000):
        sl = slice(s, s + 100_000)
        similar[sl] = (a[sl] == b[sl]).mean(axis=1) >= threshold
    return _save_edges(out, cand[similar])


def segments(radius: int) -> list[tuple[int, int]]:
    """The pigeonhole split of 64 bits into ``radius + 1`` segments: ``(shift, bits)`` of each."""
    m = radius + 1
    widths = [64 // m + (1 if i < 64 % m else 0) for i in range(m)]
    shifts = np.cumsum([0, *widths[:-1]]).tolist()
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


def visual_edges(parts: list[Part], shift: int, bits: int, radius: int, min_ink: float, out: Path) -> int:
    """Confirmed ``visual`` pairs among rows whose phash agrees on segment ``(shift, bits)``."""
    cols: dict[str, list[np.ndarray]] = {"row": [], "phash": [], "dhash": [], "aspect": []}
    for part in parts:
        t = part.features(["phash", "dhash", "aspect", "ink", "has_image"])
        ok = t.column("has_image").to_numpy(zero_copy_only=False) & (t.column("ink").to_numpy() >= min_ink)
        idx = np.flatnonzero(ok)
        cols["row"].append(idx + part.start)
        for name in ("phash", "dhash", "aspect"):
            cols[name].append(t.column(name).to_numpy()[idx])
    row, ph, dh, aspect = (
        np.concatenate([np.empty(0, c[0].dtype if c else np.int64), *c]) for c in cols.values()
    )
    found = [np.empty((0, 2), np.int64)]
    if len(row) >= 2:
        # identical hashes: a star onto the first row (as ``hamming_pairs``), then unique hashes only
        found.append(_stars(ph, row))
        order = np.lexsort((row, ph))
        first = np.ones(len(row), dtype=bool)
        first[1:] = ph[order][1:] != ph[order][:-1]
        keep = order[first]
        value = (ph[keep] >> np.uint64(shift)) & np.uint64((1 << bits) - 1) if bits < 64 else ph[keep]
        by = np.lexsort((row[keep], value))
        u_row, u_ph, value = row[keep][by], ph[keep][by], value[by]
        starts, sizes = _groups(value)
        for size in np.unique(sizes[sizes >= 2]).tolist():
            at = starts[sizes == size]
            if size <= _SMALL_BUCKET:
                p = _all_pairs(at, size)
                found.append(u_row[p[np.bitwise_count(u_ph[p[:, 0]] ^ u_ph[p[:, 1]]) <= radius]])
            else:
                for lo in at.tolist():
                    found.append(u_row[hamming_pairs(u_ph[lo : lo + size], radius) + lo])
    pairs = np.concatenate(found)
    a, b = np.searchsorted(row, pairs[:, 0]), np.searchsorted(row, pairs[:, 1])  # ``row`` is ascending
    ratio = np.maximum(aspect[a], aspect[b]) / np.minimum(aspect[a], aspect[b])
    ok = (np.bitwise_count(dh[a] ^ dh[b]) <= radius) & (ratio <= MAX_ASPECT_RATIO)
    return _save_edges(out, pairs[ok])


def cluster_parts(parts: list[Part], edge_files: dict[str, list[Path]]) -> dict[str, int]:
    """Connected components over every edge file; write each run part's ``clusters`` file
    (cluster_id, cluster_size, dup_signals per row, in the part's order); return edges per signal."""
    ids = [x for p in parts for x in p.features(["id"]).column("id").to_pylist()]
    is_ref = np.concatenate([np.empty(0, bool), *(np.full(p.rows, p.reference) for p in parts)])
    edges = {name: load_edges(edge_files.get(name, [])) for name in SIGNALS if name != "reference"}
    result = fuse(ids, is_ref, edges)
    for p in parts:
        if p.reference:
            continue
        sl = slice(p.start, p.start + p.rows)
        table = pa.table(
            {
                "cluster_id": pa.array(result.cluster_id[sl], pa.string()),
                "cluster_size": pa.array(result.cluster_size[sl], pa.int64()),
                "dup_signals": pa.array(result.dup_signals[sl], pa.string()),
            }
        )
        tmp = p.clusters_path.with_name(f".{p.clusters_path.name}.tmp-{os.getpid()}")
        pq.write_table(table, tmp)
        _replace(tmp, p.clusters_path)
    return {name: len(e) for name, e in edges.items()}
