"""``dedup``: exact, code near-duplicate and visual near-duplicate clusters, fused into one cluster id.

A ``global`` stage. Every row gets ``code_hash`` (canonical code), ``image_hash`` (screenshot bytes),
``phash`` (64-bit hex), ``cluster_id`` (the smallest member id, or the reference id when the cluster
touches a reference set), ``cluster_size`` (run rows in the cluster) and ``dup_signals`` (comma list of
exact_code, exact_image, code_minhash, visual, reference; null for a singleton). It never drops a
row: the selection step keeps one representative per cluster and drops rows marked ``reference``.

Only screenshots of ``render_status`` ok (or unknown) count; failed renders have no visual signal.
It runs as tasks (``aesdata.dedup.partitioned``): features per input shard and per reference file,
written to the step's ``work/`` folder; the index as partitions (exact hashes by prefix, MinHash bands,
phash segments), each writing its edges; connected components in one task; then one task per shard
writing its output. The driver holds only the list of parts. ``run_global`` (a table or tables in,
one table out) runs the same plan in this process over a temporary folder.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasketch import MinHashLSH
from pydantic import Field

from aesdata.dedup.features import FeatureParams
from aesdata.dedup.fuse import PHASES
from aesdata.dedup.partitioned import (
    Part,
    band_edges,
    cluster_parts,
    exact_edges,
    segments,
    visual_edges,
    write_features,
)
from aesdata.dedup.reference import read_reference
from aesdata.ids import guess_kind
from aesdata.schema import sub_schema
from aesdata.stage import GlobalJob, InlineTasks, Resources, ShardReader, Stage, StageConfig, Tasks, register

#: hash-prefix partitions of each exact signal
_EXACT_PARTITIONS = 4


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
        default=None, ge=1, description="most dedup tasks running at once (default: what the executor has)"
    )
    reference: list[str] = Field(
        default_factory=list,
        description="Parquet/JSONL files of code (+ optional screenshot) that rows must not repeat",
    )


def _kinds(kinds: list[str | None], codes: list[str | None]) -> list[str]:
    return [k or guess_kind(c or "") for k, c in zip(kinds, codes, strict=True)]


def _screenshot_bytes(table: pa.Table) -> list[bytes | None]:
    shots = table.column("screenshot")
    status = table.column("render_status").to_pylist()
    png = pc.struct_field(shots, "bytes").to_pylist() if pa.types.is_struct(shots.type) else shots.to_pylist()
    return [p if p and s in (None, "ok") else None for p, s in zip(png, status, strict=True)]


def _table_features(table: pa.Table, base: Path, params: FeatureParams) -> dict[str, Any]:
    """Task: the feature files of a table of rows (id + requires)."""
    codes = table.column("code").to_pylist()
    kinds = _kinds(table.column("kind").to_pylist(), codes)
    ids = [str(x) for x in table.column("id").to_pylist()]
    return write_features(base, ids, kinds, codes, _screenshot_bytes(table), params)


def _shard_features(job: GlobalJob, i: int, base: Path, params: FeatureParams) -> dict[str, Any]:
    """Task: the feature files of input shard ``i``."""
    return _table_features(job.read(i, ("id", *Dedup.requires)), base, params)


def _reference_features(path: Path, base: Path, params: FeatureParams) -> dict[str, Any]:
    """Task: the feature files of one reference set."""
    ids: list[str] = []
    kinds: list[str] = []
    codes: list[str | None] = []
    shots: list[bytes | None] = []
    for ref in read_reference(path):
        ids += ref.ids
        kinds += _kinds(ref.kinds, list(ref.codes))
        codes += ref.codes
        shots += ref.screenshots
    return write_features(base, ids, kinds, codes, shots, params)


def _output(part: Part) -> pa.Table:
    """A run part's output columns (id + outputs) from its feature and cluster files."""
    f = part.features(["id", "code_hash", "image_hash", "phash", "has_image"])
    c = pq.read_table(part.clusters_path)
    phash = [
        f"{p:016x}" if has else None
        for p, has in zip(f.column("phash").to_pylist(), f.column("has_image").to_pylist(), strict=True)
    ]
    columns = {
        "id": f.column("id"),
        "code_hash": f.column("code_hash"),
        "image_hash": f.column("image_hash"),
        "phash": phash,
        **{name: c.column(name) for name in c.column_names},
    }
    return pa.Table.from_pydict(columns, schema=sub_schema(["id", *Dedup.outputs]))


def _write_output(stage: Dedup, job: GlobalJob, i: int, part: Part) -> dict[str, int]:
    """Task: write output shard ``i`` of the step."""
    return job.write(stage, i, _output(part))


def _call(fn: Any, args: tuple[Any, ...]) -> Any:
    """Task: ``fn(*args)`` (lets one phase run different functions)."""
    return fn(*args)


@register
class Dedup(Stage):
    name = "dedup"
    summary = "Cluster exact, code near-duplicate and visual near-duplicate rows (and rows repeating a reference set)."
    mode = "global"
    Config = DedupConfig
    resources = Resources(cpus=1.0, memory_gb=2.0, max_workers=1)  # the driver only plans: tasks do the work
    version = "3"  # Python shingles drop docstrings and read literals as %str/%num/%look (plot clusters grow)
    requires = ("kind", "code", "screenshot", "render_status")
    outputs = ("code_hash", "image_hash", "phash", "cluster_id", "cluster_size", "dup_signals")
    config: DedupConfig
    #: set by a run: CPU seconds of the features per phase, wall seconds of the index and components
    cpu_s: dict[str, float]

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

    def _plan(self, work: Path, features: list[tuple[Any, tuple[Any, ...]]], tasks: Tasks) -> list[Part]:
        """Run the dedup tasks in ``work``. ``features``: one feature task per run part, ``(function,
        args)`` whose args lack the last two (the part's base path, ``FeatureParams``). Returns the run's
        parts, their cluster files written."""
        c = self.config
        self.cpu_s = dict.fromkeys(PHASES, 0.0)
        params = FeatureParams(c.num_perm, c.shingle_size, 1)
        refs = self._reference_paths()
        base = [work / "features" / f"part-{k:05d}" for k in range(len(refs) + len(features))]
        calls = [(_reference_features, (path, base[k], params)) for k, path in enumerate(refs)]
        calls += [(fn, (*args, base[len(refs) + k], params)) for k, (fn, args) in enumerate(features)]
        done = tasks.map(_call, calls, name="features", memory_gb=1.0, limit=c.workers)
        parts, start = [], 0
        for k, d in enumerate(done):
            parts.append(Part(base[k], start, d["rows"], k < len(refs)))
            start += d["rows"]
            for phase, seconds in d["cpu_s"].items():
                self.cpu_s[phase] += seconds
        edges = work / "edges"
        lsh = MinHashLSH(threshold=c.code_threshold, num_perm=c.num_perm)
        index: list[tuple[str, Any, tuple[Any, ...]]] = [
            (s, exact_edges, (parts, s, p, _EXACT_PARTITIONS, c.min_ink, edges / f"{s}-{p}.npy"))
            for s in ("exact_code", "exact_image")
            for p in range(_EXACT_PARTITIONS)
        ]
        index += [
            ("code_minhash", band_edges, (parts, lo, hi, c.code_threshold, edges / f"code_minhash-{k}.npy"))
            for k, (lo, hi) in enumerate(lsh.hashranges)
        ]
        index += [
            (
                "visual",
                visual_edges,
                (parts, sh, bits, c.visual_threshold, c.min_ink, edges / f"visual-{k}.npy"),
            )
            for k, (sh, bits) in enumerate(segments(c.visual_threshold))
        ]
        t = time.perf_counter()
        tasks.map(_call, [(fn, args) for _, fn, args in index], name="index", memory_gb=1.0, limit=c.workers)
        t1 = time.perf_counter()
        files: dict[str, list[Path]] = {}
        for signal, _, args in index:
            files.setdefault(signal, []).append(args[-1])
        tasks.map(cluster_parts, [(parts, files)], name="components", memory_gb=2.0)
        self.cpu_s["lsh_pairs"] += t1 - t
        self.cpu_s["cluster"] += time.perf_counter() - t1
        return [p for p in parts if not p.reference]

    def run_tasks(self, job: GlobalJob, tasks: Tasks) -> None:
        """Dedup the run's shards as tasks in the step's ``work/`` folder; each shard's output by a task."""
        work = job.work_dir
        shutil.rmtree(work, ignore_errors=True)
        parts = self._plan(work, [(_shard_features, (job, i)) for i in range(job.n_shards)], tasks)
        tasks.map(
            _write_output,
            [(self, job, i, part) for i, part in enumerate(parts)],
            name="write",
            memory_gb=0.5,
            limit=self.config.workers,
        )
        shutil.rmtree(work, ignore_errors=True)

    def run_global(self, shards: ShardReader | pa.Table | Iterable[pa.Table]) -> pa.Table:
        """Dedup a table (or tables, one per shard) in this process with the same tasks as ``run_tasks``;
        return id + outputs for every row, in input order."""
        tables = [shards] if isinstance(shards, pa.Table) else list(shards)
        with tempfile.TemporaryDirectory(prefix="aesdata-dedup-") as tmp:
            feats = [(_table_features, (t.select(["id", *self.requires]),)) for t in tables]
            parts = self._plan(Path(tmp), feats, InlineTasks())
            return pa.concat_tables([_output(p) for p in parts])
