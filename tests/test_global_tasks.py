"""Global steps as tasks: a process pool and Ray tasks give the rows and files of the in-process path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aesdata.executor import LocalExecutor, make_executor
from aesdata.rundir import RunDir, conform
from aesdata.spec import load_pipeline
from aesdata.stage import StageContext
from aesdata.stages.dedup import Dedup, DedupConfig
from aesdata.stages.select import Select
from tests.select_helpers import write_scored_corpus

PIPE = """name: g
shard_size: 6
plugins: [tests.select_helpers]
stages:
  - stage: read_corpus
    path: corpus.jsonl
  - stage: test_inject_scores
  - stage: dedup
  - stage: select
    filters: [renders_ok]
    dedup: none
    best_of_n: 1
    splits: {train: 0.7, test: 0.3}
  - stage: export
    rows_per_shard: 1
"""
STEPS = ("dedup", "select", "export")


def _build(folder: Path, kind: str = "local", upstream: Path | None = None, **kw: object) -> Path:
    """Build the pipeline in ``folder``; with ``upstream`` (a finished run), on a copy of its shard-wise steps."""
    folder.mkdir(parents=True, exist_ok=True)
    write_scored_corpus(folder, 30)
    (folder / "p.yaml").write_text(PIPE)
    run = folder / "runs" / "g"
    if upstream is not None:
        shutil.copytree(upstream, run)
        for step in STEPS:
            shutil.rmtree(run / "stages" / step)
        shutil.rmtree(run / "dataset")
    make_executor(kind, load_pipeline(folder / "p.yaml"), run, **kw).run()
    return run


def _outputs(run: Path) -> dict[str, object]:
    """Every global step's shards and the exported files' bytes."""
    out: dict[str, object] = {}
    for step in STEPS:
        for p in sorted((run / "stages" / step).glob("shard-*.parquet")):
            out[f"{step}/{p.name}"] = pq.read_table(p)
    for p in sorted((run / "dataset").rglob("*")):
        if p.is_file():
            out[str(p.relative_to(run))] = p.read_bytes()
    return out


def _same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        same = a[k].equals(b[k]) if isinstance(a[k], pa.Table) else a[k] == b[k]
        assert same, k


@pytest.fixture(scope="module")
def inline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run built with one worker: every task in this process."""
    return _build(tmp_path_factory.mktemp("inline"), workers=1)


def test_process_pool_tasks_match_in_process(inline: Path, tmp_path: Path) -> None:
    pooled = _build(tmp_path / "pool", upstream=inline, workers=2)
    _same(_outputs(inline), _outputs(pooled))
    phases = (pooled / "stages" / "dedup" / "tasks.json").read_text()
    assert '"features"' in phases and '"components"' in phases
    assert not (pooled / "stages" / "dedup" / "work").exists()
    # several data files per split, laid out in shard order like one sequential pass
    names = sorted(p.name for p in (pooled / "dataset" / "data").glob("*.parquet"))
    assert len(names) >= 2 and all("-of-" in n for n in names), names
    # dedup through the executor equals Dedup.run_global over the same shards in this process
    rd = RunDir(inline)
    base, sources = rd.column_sources()
    n = len(list((inline / "stages" / "dedup").glob("shard-*.parquet")))
    tables = [rd.read_columns(i, ("id", *Dedup.requires), sources) for i in range(n)]
    ctx = StageContext(spec_dir=tmp_path, run_dir=tmp_path, stage_dir=tmp_path)
    direct = Dedup(DedupConfig(), ctx).run_global(tables)
    via = pa.concat_tables(
        [pq.read_table(inline / "stages" / "dedup" / f"shard-{i:05d}.parquet") for i in range(n)]
    )
    assert direct.equals(via)
    assert via.column("dup_signals").null_count < via.num_rows  # some rows cluster
    # select's task (DuckDB over the Parquet files) decides as Select.run_global over in-memory shards
    base, sources = rd.column_sources()
    pipe = load_pipeline(inline.parent.parent / "p.yaml")
    step = next(s for s in pipe.steps if s.id == "select")
    cols = tuple(dict.fromkeys(["id", *Select.requires, *(c for c in Select.uses if c in sources)]))
    tables = [rd.read_columns(i, cols, sources) for i in range(n)]
    ctx = StageContext(spec_dir=inline.parent.parent, run_dir=tmp_path, stage_dir=tmp_path / "select")
    direct = Select(step.config, ctx).run_global(tables).sort_by("id")
    via = pa.concat_tables(
        [pq.read_table(inline / "stages" / "select" / f"shard-{i:05d}.parquet") for i in range(n)]
    )
    assert direct.equals(conform(via, direct.column_names).sort_by("id"))


def test_resume_keeps_global_steps(inline: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in (inline / "stages" / "dedup").glob("shard-*.parquet")}
    LocalExecutor(load_pipeline(inline.parent.parent / "p.yaml"), inline, workers=1).run()
    assert before == {p: p.stat().st_mtime_ns for p in (inline / "stages" / "dedup").glob("shard-*.parquet")}


def test_ray_tasks_match_in_process(inline: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is part of dev; this only skips outside it")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    try:
        on_ray = _build(tmp_path, "ray", upstream=inline)
    finally:
        ray.shutdown()
    _same(_outputs(inline), _outputs(on_ray))
