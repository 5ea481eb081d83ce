"""The local executor: runs a pipeline's steps over shards, resumably, with a worker pool and progress.

For each step in order it computes a fingerprint (stage, version, config, extra inputs, the
upstream step's fingerprint), discards the step's folder when the fingerprint changed (that redoes
the step and, through the chain, everything downstream), skips shards whose ``.done`` marker names
the current fingerprint, and runs the rest:

- source steps in-process, cut into ``shard_size`` shards;
- map / expand steps on ``workers`` processes (``spawn``), each calling the stage's ``setup`` once,
  then one shard at a time, then ``teardown``; a single worker runs in-process;
- global steps in-process over a ``ShardReader``.

Each worker writes its own shard files atomically, so a killed build resumes where it stopped.
A Ray executor can run the same steps: everything a worker needs is picklable
(stage class, config, context, fingerprint, input column plan).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import platform
import queue
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

import aesdata
from aesdata.errors import AesdataError
from aesdata.rundir import RunDir, StepDir, conform
from aesdata.schema import SCHEMA_VERSION
from aesdata.spec import Pipeline, Step
from aesdata.stage import Stage, StageContext


@dataclass
class StepReport:
    """What happened to one step in this build."""

    id: str
    stage: str
    mode: str
    rows: int = 0
    failures: int = 0
    shards: int = 0
    skipped: int = 0
    seconds: float = 0.0
    redone: bool = False
    workers: int = 1


@dataclass
class BuildResult:
    """A finished build: its run directory and one report per step."""

    run_dir: Path
    steps: list[StepReport] = field(default_factory=list)
    summaries: dict[str, Any] = field(default_factory=dict)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def machine_cpus() -> int:
    """CPUs this process may use (affinity-aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def plan_workers(
    stage: type[Stage],
    n_shards: int,
    override: int | None = None,
    cpus: float | None = None,
    gpus: float | None = None,
) -> int:
    """Workers for a shard-wise stage: ``cpus`` (default: this machine's) / stage cpus, capped by GPUs,
    shards and ``max_workers``."""
    if override:
        return max(1, min(override, n_shards))
    res = stage.resources
    n = max(1, int((cpus or machine_cpus()) // max(res.cpus, 0.01)))
    if res.gpus > 0:
        n = min(n, max(1, int((gpus if gpus is not None else _gpu_count()) // res.gpus)))
    if res.max_workers:
        n = min(n, res.max_workers)
    return max(1, min(n, n_shards))


def _gpu_count() -> int:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    return 1


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f} rows/s" if speed else "", style="cyan")


class _FailColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        n = task.fields.get("failures", 0)
        return Text(f"{n} failed" if n else "", style="red" if n else "dim")


def make_progress(console: Console) -> Progress:
    """The build's progress display: per step done/total rows, rate, ETA and failures."""
    return Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(bar_width=28),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        _FailColumn(),
        TextColumn("{task.fields[note]}", style="dim"),
        console=console,
        transient=False,
    )


# --------------------------------------------------------------------------- shard work
@dataclass(frozen=True)
class _ShardJob:
    """Everything a worker needs to run a shard-wise step (picklable, for process and Ray pools)."""

    stage: type[Stage]
    config: Any
    context: StageContext
    run_dir: Path
    step_id: str
    fingerprint: str
    columns: tuple[str, ...]
    sources: dict[str, str]


class _ShardRunner:
    """Runs shards of one step with one stage instance (sync or on one long-lived event loop)."""

    def __init__(self, job: _ShardJob) -> None:
        self.job = job
        self.stage = job.stage(job.config, job.context)
        self.loop = asyncio.new_event_loop() if job.stage.is_async() else None
        self.rundir = RunDir(job.run_dir)
        self.out = self.rundir.step(job.step_id)

    def __enter__(self) -> _ShardRunner:
        self.stage.setup()
        if self.loop:
            self.loop.run_until_complete(self.stage.asetup())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.loop:
                self.loop.run_until_complete(self.stage.ateardown())
                self.loop.close()
        finally:
            self.stage.teardown()

    def run(self, i: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        table = self.rundir.read_columns(i, self.job.columns, self.job.sources)
        if self.loop:
            result = self.loop.run_until_complete(self.stage.aprocess(table))
        else:
            result = self.stage.process(table)
        result = _finish_output(self.stage, table, result)
        failures = int(self.stage.failures(result))
        marker = {
            "fingerprint": self.job.fingerprint,
            "failures": failures,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        self.out.write_shard(i, result, marker)
        return {"rows": result.num_rows, "failures": failures}


def _finish_output(stage: Stage, table: pa.Table, result: pa.Table) -> pa.Table:
    """Check a shard-wise stage's output and conform it to the schema (map: id + outputs in input order)."""
    if stage.mode == "expand":
        if "id" not in result.column_names:
            raise AesdataError(f"Stage {stage.name!r} returned rows without an 'id' column.")
        return conform(result, ["id", *[c for c in stage.outputs if c != "id"]])
    if result.num_rows != table.num_rows:
        raise AesdataError(
            f"Stage {stage.name!r} returned {result.num_rows} rows for a shard of {table.num_rows}."
        )
    result = conform(result, list(stage.outputs))
    return result.add_column(0, "id", table.column("id"))


def _worker_main(job: _ShardJob, tasks: Any, results: Any) -> None:
    """Process-pool worker: set the stage up once, run shards from ``tasks`` until None, tear down."""
    try:
        with _ShardRunner(job) as runner:
            results.put(("ready", os.getpid(), None))
            while (i := tasks.get()) is not None:
                try:
                    results.put(("ok", i, runner.run(i)))
                except Exception as e:  # reported to the parent with the traceback
                    results.put(("error", i, (_one_line(e), traceback.format_exc())))
    except Exception as e:
        results.put(("error", -1, (_one_line(e), traceback.format_exc())))


def _one_line(e: BaseException) -> str:
    if isinstance(e, AesdataError):
        return str(e)
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


class _Reader:
    """``ShardReader`` for global stages: shard tables with the required columns."""

    def __init__(self, rundir: RunDir, n: int, columns: tuple[str, ...], sources: dict[str, str]) -> None:
        self.rundir, self.n, self.columns, self.sources = rundir, n, columns, sources

    def __iter__(self) -> Iterator[pa.Table]:
        for i in range(self.n):
            yield self.rundir.read_columns(i, self.columns, self.sources)

    def __len__(self) -> int:
        return self.n

    def read_all(self) -> pa.Table:
        return pa.concat_tables(list(self))


# --------------------------------------------------------------------------- the build
class LocalExecutor:
    """Runs a ``Pipeline`` into a run directory on this machine."""

    def __init__(
        self,
        pipeline: Pipeline,
        run_dir: Path,
        *,
        limit: int | None = None,
        workers: int | None = None,
        console: Console | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.rundir = RunDir(run_dir)
        self.limit = limit
        self.workers = workers
        self.console = console or Console(stderr=True)
        self.log_dir = run_dir / "logs"

    def _context(self, step: Step) -> StageContext:
        return StageContext(
            spec_dir=self.pipeline.path.parent,
            run_dir=self.rundir.path,
            stage_dir=self.rundir.step(step.id).path,
            limit=self.limit,
            settings=self.pipeline.settings,
        )

    def fingerprints(self) -> list[str]:
        """The fingerprint of every step, chained from the first."""
        fps, prev = [], ""
        for step in self.pipeline.steps:
            stage = step.stage(step.config, self._context(step))
            parts = {
                "stage": step.stage.name,
                "version": step.stage.version,
                "config": {k: v for k, v in step.config_dict().items() if k not in step.stage.tuning_keys},
                "extra": stage.fingerprint_extra(),
                "upstream": prev,
                "schema": SCHEMA_VERSION,
            }
            if step.stage.mode == "source":
                parts.update(shard_size=self.pipeline.shard_size, limit=self.limit)
            prev = _hash(parts)
            fps.append(prev)
        return fps

    def run(self) -> BuildResult:
        """Run every step; raise ``AesdataError`` (finished shards kept) when a step fails."""
        p = self.pipeline
        fps = self.fingerprints()
        manifest = self._base_manifest(fps)
        self.rundir.write_manifest(manifest)
        result = BuildResult(self.rundir.path)
        sources: dict[str, str] = {}
        n_shards = 0
        with make_progress(self.console) as progress:
            for k, (step, fp) in enumerate(zip(p.steps, fps, strict=True)):
                sd = self.rundir.step(step.id)
                redone = sd.prepare(fp, {"stage": step.stage.name, "config": step.config_dict()})
                report = StepReport(step.id, step.stage.name, step.stage.mode, redone=redone)
                t0 = time.perf_counter()
                manifest["steps"][k]["status"] = "running"
                self.rundir.write_manifest(manifest)
                try:
                    if step.stage.mode == "source":
                        n_shards = self._run_source(step, fp, sd, report, progress)
                    elif step.stage.mode == "global":
                        self._run_global(step, fp, sd, n_shards, sources, report, progress)
                    else:
                        self._run_sharded(step, fp, sd, n_shards, sources, report, progress)
                except BaseException:
                    manifest["steps"][k]["status"] = "failed"
                    manifest["status"] = "failed"
                    self.rundir.write_manifest(manifest)
                    raise
                report.seconds = round(time.perf_counter() - t0, 3)
                markers = sd.markers()
                report.rows = sum(m.get("rows", 0) for m in markers)
                report.failures = sum(m.get("failures", 0) for m in markers)
                sd.mark_complete(n_shards, report.rows)
                if step.stage.mode in ("source", "expand"):
                    sources = {c: step.id for c in ("id", *step.stage.outputs)}
                else:
                    sources.update({c: step.id for c in step.stage.outputs})
                stage = step.stage(step.config, self._context(step))
                summary = stage.summarize(self.rundir.path)
                if summary is not None:
                    result.summaries[step.id] = summary
                    manifest["summaries"][step.id] = summary
                manifest["steps"][k].update(
                    status="complete",
                    rows=report.rows,
                    failures=report.failures,
                    shards=n_shards,
                    seconds=report.seconds,
                    skipped_shards=report.skipped,
                )
                self.rundir.write_manifest(manifest)
                result.steps.append(report)
        manifest["status"] = "complete"
        manifest["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.rundir.write_manifest(manifest)
        return result

    def _base_manifest(self, fps: list[str]) -> dict[str, Any]:
        p = self.pipeline
        versions = environment_versions()
        steps = []
        for step, fp in zip(p.steps, fps, strict=True):
            stage = step.stage(step.config, self._context(step))
            versions.update(stage.versions())
            steps.append(
                {
                    "id": step.id,
                    "stage": step.stage.name,
                    "mode": step.stage.mode,
                    "version": step.stage.version,
                    "fingerprint": fp,
                    "config": step.config_dict(),
                    "config_hash": _hash(step.config_dict()),
                    "outputs": list(step.stage.outputs),
                    "resources": step.stage.resources.model_dump(),
                    "status": "pending",
                }
            )
        old: dict[str, Any] = {}
        if self.rundir.manifest_path.exists():
            try:
                old = self.rundir.manifest()
            except AesdataError:
                old = {}
        return {
            "aesdata_version": aesdata.__version__,
            "schema_version": SCHEMA_VERSION,
            "pipeline": {"name": p.name, "path": str(p.path), "spec_hash": p.spec_hash, "text": p.text},
            "limit": self.limit,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "status": "running",
            "versions": versions,
            "steps": steps,
            "summaries": {k: v for k, v in old.get("summaries", {}).items() if k in {s.id for s in p.steps}},
        }

    # ----------------------------------------------------------------- sources
    def _run_source(self, step: Step, fp: str, sd: StepDir, report: StepReport, progress: Progress) -> int:
        done = sd.completion()
        if done:
            report.shards = report.skipped = done["n_shards"]
            progress.add_task(
                step.id, total=done["rows"], completed=done["rows"], failures=0, note="done earlier"
            )
            return int(done["n_shards"])
        task = progress.add_task(step.id, total=None, failures=0, note="reading")
        stage = step.stage(step.config, self._context(step))
        stage.setup()
        try:
            batches = [b for b in stage.read() if b.num_rows]
        finally:
            stage.teardown()
        table = pa.concat_tables([conform(b, list(step.stage.outputs)) for b in batches]) if batches else None
        if table is None or table.num_rows == 0:
            raise AesdataError(
                f"Source step {step.id!r} produced no rows.", "Check the input path and its contents."
            )
        if self.limit is not None:
            table = table.slice(0, self.limit)
        ids = table.column("id").to_pylist()
        if None in ids or len(set(ids)) != len(ids):
            raise AesdataError(f"Source step {step.id!r} produced missing or repeated ids.")
        size = self.pipeline.shard_size
        n = (table.num_rows + size - 1) // size
        progress.update(task, total=table.num_rows, note="")
        for i in range(n):
            part = table.slice(i * size, size)
            sd.write_shard(i, part, {"fingerprint": fp, "failures": 0, "seconds": 0})
            progress.advance(task, part.num_rows)
        report.shards = n
        return n

    # ----------------------------------------------------------------- shard-wise
    def _run_sharded(
        self,
        step: Step,
        fp: str,
        sd: StepDir,
        n_shards: int,
        sources: dict[str, str],
        report: StepReport,
        progress: Progress,
    ) -> None:
        todo = [i for i in range(n_shards) if not sd.is_done(i, fp)]
        markers = {i: sd.marker_path(i) for i in range(n_shards)}
        done_rows = sum(
            json.loads(markers[i].read_text()).get("rows", 0) for i in range(n_shards) if i not in todo
        )
        in_rows = _rows_per_shard(self.rundir, sources, n_shards)
        total = sum(in_rows) if step.stage.mode == "map" else None
        report.shards, report.skipped = n_shards, n_shards - len(todo)
        task = progress.add_task(
            step.id,
            total=total,
            completed=done_rows if total else 0,
            failures=0,
            note=f"{report.skipped} shards done earlier" if report.skipped else "",
        )
        if not todo:
            progress.update(task, total=done_rows, completed=done_rows)
            return
        columns = _input_columns(step.stage, sources)
        job = _ShardJob(
            step.stage,
            step.config,
            self._context(step),
            self.rundir.path,
            step.id,
            fp,
            columns,
            dict(sources),
        )
        workers = self.plan_workers(step.stage, len(todo))
        report.workers = workers
        progress.update(task, note=f"{workers} worker{'s' * (workers > 1)}")
        failures = 0

        def on_done(i: int, stats: dict[str, Any]) -> None:
            nonlocal failures
            failures += stats["failures"]
            progress.update(task, advance=in_rows[i] if total else stats["rows"], failures=failures)

        if workers == 1 and self.single_worker_in_process:
            with _ShardRunner(job) as runner:
                for i in todo:
                    try:
                        on_done(i, runner.run(i))
                    except AesdataError:
                        raise
                    except Exception as e:
                        self._raise_stage_error(step, i, _one_line(e), traceback.format_exc())
        else:
            self._run_pool(step, job, todo, workers, on_done)
        if total is None:
            progress.update(task, total=progress.tasks[task].completed)

    #: a shard-wise step planned for one worker runs in this process (no start-up cost)
    single_worker_in_process = True

    def plan_workers(self, stage: type[Stage], n_shards: int) -> int:
        """How many workers a shard-wise step gets on this executor."""
        return plan_workers(stage, n_shards, self.workers)

    def _run_pool(self, step: Step, job: _ShardJob, todo: list[int], workers: int, on_done: Any) -> None:
        """Run ``todo`` shards on ``workers`` spawned processes, calling ``on_done(i, stats)`` as each ends."""
        ctx = mp.get_context("spawn")
        tasks, results = ctx.Queue(), ctx.Queue()
        for i in todo:
            tasks.put(i)
        for _ in range(workers):
            tasks.put(None)
        procs = [
            ctx.Process(target=_worker_main, args=(job, tasks, results), daemon=True) for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        pending = set(todo)
        try:
            while pending:
                try:
                    kind, i, payload = results.get(timeout=1.0)
                except queue.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        self._raise_stage_error(
                            step, min(pending), f"a worker process died (exit code {dead[0].exitcode})", ""
                        )
                    continue
                if kind == "ok":
                    pending.discard(i)
                    on_done(i, payload)
                elif kind == "error":
                    self._raise_stage_error(step, i, *payload)
        finally:
            for proc in procs:
                if proc.is_alive() and pending:
                    proc.terminate()
            for proc in procs:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.kill()

    def _raise_stage_error(self, step: Step, shard: int, message: str, tb: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{step.id}-shard-{shard:05d}.log"
        log.write_text(tb or message)
        where = f"shard {shard}" if shard >= 0 else "setup"
        raise AesdataError(
            f"Step {step.id!r} ({step.stage.name}) failed on {where}: {message}",
            f"Finished shards are kept; the traceback is in {log}. Fix the cause and rerun the same command to resume.",
        )

    # ----------------------------------------------------------------- global
    def _run_global(
        self,
        step: Step,
        fp: str,
        sd: StepDir,
        n_shards: int,
        sources: dict[str, str],
        report: StepReport,
        progress: Progress,
    ) -> None:
        report.shards = n_shards
        if all(sd.is_done(i, fp) for i in range(n_shards)):
            report.skipped = n_shards
            rows = sum(m.get("rows", 0) for m in sd.markers())
            progress.add_task(step.id, total=rows, completed=rows, failures=0, note="done earlier")
            return
        in_rows = _rows_per_shard(self.rundir, sources, n_shards)
        task = progress.add_task(step.id, total=sum(in_rows), failures=0, note="all rows at once")
        sd.clear_complete()
        columns = _input_columns(step.stage, sources)
        stage = step.stage(step.config, self._context(step))
        t0 = time.perf_counter()
        stage.setup()
        try:
            out = stage.run_global(_Reader(self.rundir, n_shards, columns, sources))
        except AesdataError:
            raise
        except Exception as e:
            self._raise_stage_error(step, -1, _one_line(e), traceback.format_exc())
        finally:
            stage.teardown()
        out = conform(out, ["id", *step.stage.outputs])
        pos = {v: k for k, v in enumerate(out.column("id").to_pylist())}
        seconds = round(time.perf_counter() - t0, 3)
        failures = 0
        for i in range(n_shards):
            ids = self.rundir.read_columns(i, ("id",), sources).column("id").to_pylist()
            missing = [x for x in ids if x not in pos]
            if missing:
                raise AesdataError(
                    f"Global step {step.id!r} returned no row for id {missing[0]} (and {len(missing) - 1} more)."
                )
            part = out.take(pa.array([pos[x] for x in ids], pa.int64()))
            f = int(stage.failures(part))
            failures += f
            sd.write_shard(i, part, {"fingerprint": fp, "failures": f, "seconds": seconds if i == 0 else 0})
            progress.update(task, advance=len(ids), failures=failures)


def _input_columns(stage: type[Stage], sources: dict[str, str]) -> tuple[str, ...]:
    """``id`` + the stage's required columns + the optional ones an earlier step wrote."""
    return tuple(dict.fromkeys(["id", *stage.requires, *(c for c in stage.uses if c in sources)]))


def _rows_per_shard(rundir: RunDir, sources: dict[str, str], n_shards: int) -> list[int]:
    """Rows of each shard of the current row set, read from the base step's markers."""
    base = rundir.step(sources["id"])
    out = []
    for i in range(n_shards):
        try:
            out.append(int(json.loads(base.marker_path(i).read_text())["rows"]))
        except (OSError, ValueError, KeyError):
            out.append(0)
    return out


def environment_versions() -> dict[str, str]:
    """Versions of what changes the data: Python, aesdata and the libraries that write or score it."""
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aesdata": aesdata.__version__,
    }
    for pkg in (
        "pyarrow",
        "duckdb",
        "datasets",
        "playwright",
        "imagehash",
        "datasketch",
        "matplotlib",
        "seaborn",
        "plotly",
        "pillow",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out
