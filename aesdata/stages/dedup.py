"""``dedup``: exact, code near-duplicate and visual near-duplicate clusters, fused into one cluster id.

A ``global`` stage. Every row gets ``code_hash`` (canonical code), ``image_hash`` (screenshot bytes),
``phash`` (64-bit hex), ``cluster_id`` (the smallest member id, or the reference id when the cluster
touches a reference set), ``cluster_size`` (run rows in the cluster) and ``dup_signals`` (comma list of
exact_code, exact_image, code_minhash, visual, reference; null for a singleton). It never drops a
row: the selection step keeps one representative per cluster and drops rows marked ``reference``.

Only screenshots of ``render_status`` ok (or unknown) count; failed renders have no visual signal.
Rows are read shard by shard in batches of a few hundred rows; a process pool (one worker per CPU)
reduces each batch to compact per-row features (code hash, MinHash signature, image hashes:
``aesdata.dedup.features``), and this process indexes them and clusters (see ``aesdata.dedup.fuse``
for what memory grows with N). At most two batches per worker are in flight.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from aesdata.dedup.features import Batch, parallel_features
from aesdata.dedup.fuse import Deduper, DedupParams
from aesdata.dedup.reference import read_reference
from aesdata.ids import guess_kind
from aesdata.resources import machine_cpus
from aesdata.schema import sub_schema
from aesdata.stage import Resources, ShardReader, Stage, StageConfig, register

_BATCH_ROWS = 256
_BATCH_BYTES = 64 << 20


class DedupConfig(StageConfig):
    tuning_keys = ("workers",)

    code_threshold: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="code near-dup: estimated Jaccard of code shingles at least this",
    )
    num_perm: int = Field(
        default=128, ge=16, le=1024, description="MinHash signature length (a power of two)"
    )
    shingle_size: int = Field(default=5, ge=1, le=20, description="tokens per code shingle")
    visual_threshold: int = Field(
        default=8, ge=0, le=16, description="visual near-dup: phash (and dhash) Hamming distance at most this"
    )
    min_ink: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="screenshots with a smaller share of non-background pixels give no image signal",
    )
    workers: int | None = Field(
        default=None, ge=1, description="processes computing row features (default: the machine's CPUs)"
    )
    reference: list[str] = Field(
        default_factory=list,
        description="Parquet/JSONL files of code (+ optional screenshot) that rows must not repeat",
    )


def _kinds(kinds: list[str | None], codes: list[str | None]) -> list[str]:
    return [k or guess_kind(c or "") for k, c in zip(kinds, codes, strict=True)]


def _screenshot_bytes(batch: pa.RecordBatch) -> list[bytes | None]:
    shots = batch.column("screenshot")
    status = batch.column("render_status").to_pylist()
    png = shots.field("bytes").to_pylist() if pa.types.is_struct(shots.type) else shots.to_pylist()
    return [p if p and s in (None, "ok") else None for p, s in zip(png, status, strict=True)]


@register
class Dedup(Stage):
    name = "dedup"
    summary = "Cluster exact, code near-duplicate and visual near-duplicate rows (and rows repeating a reference set)."
    mode = "global"
    Config = DedupConfig
    resources = Resources(cpus=1.0, memory_gb=2.0, max_workers=1)  # one coordinator; it runs its own pool
    version = "3"  # Python shingles drop docstrings and read literals as %str/%num/%look (plot clusters grow)
    requires = ("kind", "code", "screenshot", "render_status")
    outputs = ("code_hash", "image_hash", "phash", "cluster_id", "cluster_size", "dup_signals")
    config: DedupConfig
    cpu_s: dict[str, float]  # set by run_global: CPU seconds per phase (see ``Deduper.cpu_s``)

    def _reference_paths(self) -> list[Path]:
        return [(self.context.spec_dir / p).resolve() for p in self.config.reference]

    def fingerprint_extra(self) -> dict[str, Any]:
        """Content hashes of the reference files: editing one redoes the dedup."""
        out = {}
        for path in self._reference_paths():
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            out[str(path)] = digest.hexdigest()[:16]
        return out

    def _batches(self, shards: ShardReader | pa.Table) -> Iterator[tuple[list[str], Batch]]:
        """The run's rows as ``(ids, (kinds, codes, screenshots))`` batches of about ``_BATCH_ROWS`` rows,
        read shard by shard (a batch never holds more than ``_BATCH_BYTES`` of input unless one shard does)."""
        held: list[pa.Table] = []
        rows = size = 0
        for table in [shards] if isinstance(shards, pa.Table) else shards:
            table = table.select(["id", *self.requires])
            held.append(table)
            rows, size = rows + table.num_rows, size + table.nbytes
            if rows >= _BATCH_ROWS or size >= _BATCH_BYTES:
                yield from _split(pa.concat_tables(held))
                held, rows, size = [], 0, 0
        if held:
            yield from _split(pa.concat_tables(held))

    def run_global(self, shards: ShardReader | pa.Table) -> pa.Table:
        """Cluster every row of the run (id + requires, shard by shard) against each other and the
        reference sets. Features are computed on ``workers`` processes, clustering here."""
        c = self.config
        deduper = Deduper(
            DedupParams(c.code_threshold, c.num_perm, c.shingle_size, c.visual_threshold, c.min_ink)
        )
        jobs: deque[tuple[list[str], bool]] = deque()  # (ids, reference) of the batches in flight, in order

        def batches() -> Iterator[Batch]:
            for path in self._reference_paths():
                for ref in read_reference(path):
                    jobs.append((ref.ids, True))
                    yield _kinds(ref.kinds, ref.codes), ref.codes, ref.screenshots
            for ids, batch in self._batches(shards):
                jobs.append((ids, False))
                yield batch

        workers = c.workers or machine_cpus()
        hashes: dict[str, list[str | None]] = {"code_hash": [], "image_hash": [], "phash": []}
        ids_out: list[str] = []
        n_ref = 0
        for feats in parallel_features(batches(), deduper.feature_params, workers):
            ids, reference = jobs.popleft()
            got = deduper.add_features(ids, feats, reference)
            if reference:
                n_ref += len(ids)
                continue
            ids_out.extend(ids)
            for name in hashes:
                hashes[name].extend(getattr(got, name))
        result = deduper.finish()
        self.cpu_s = deduper.cpu_s  # CPU seconds per phase of this run (see ``Deduper.cpu_s``)
        columns = {
            "id": ids_out,
            **hashes,
            "cluster_id": result.cluster_id[n_ref:],
            "cluster_size": result.cluster_size[n_ref:],
            "dup_signals": result.dup_signals[n_ref:],
        }
        return pa.Table.from_pydict(columns, schema=sub_schema(["id", *self.outputs]))


def _split(table: pa.Table) -> Iterator[tuple[list[str], Batch]]:
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        codes = batch.column("code").to_pylist()
        kinds = _kinds(batch.column("kind").to_pylist(), codes)
        yield batch.column("id").to_pylist(), (kinds, codes, _screenshot_bytes(batch))
