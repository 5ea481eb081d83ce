"""The build loop every executor backend shares: resume, source and global steps, the manifest, errors.

The whole build holds the run directory's lock (``RunDir.lock``). For each step in order it prepares
the step's folder for the step's fingerprint (a folder made with another fingerprint is discarded,
which redoes the step and, through the chain, everything downstream), keeps shards that pass
``StepDir.check`` (marker for the current fingerprint, file size and hash as recorded, inputs' hashes
unchanged), says which shards fail the check, and runs the rest:

- source steps in the parent, cut into ``shard_size`` shards;
- map / expand steps through the backend (``run_shards``): a local process pool, Ray actors...;
- global steps as their stage plans them (``Stage.run_tasks``), on the backend's task runner
  (``task_runner``: a local process pool, Ray tasks); the parent only plans and merges small results.

A backend (``aesdata.executor.local``, ``aesdata.executor.ray_backend``) subclasses ``Executor`` and
implements two methods: ``plan_workers`` (how many workers a shard-wise step gets) and ``run_shards``
(run these shards of a ``ShardJob`` on that many workers, reporting each finished shard).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
from rich.console import Console
from rich.progress import Progress

from aesdata.errors import AesdataError
from aesdata.executor.manifest import base_manifest, now
from aesdata.executor.plan import StepPlan, plan_build
from aesdata.executor.progress import make_progress
from aesdata.executor.shards import ShardJob, error_line
from aesdata.executor.stats import StatsWriter
from aesdata.lineage import Sources, after_step, input_columns
from aesdata.rundir import CORRUPT, INPUTS, OK, RunDir, StepDir, atomic_write_json, conform, digest_json
from aesdata.spec import Pipeline
from aesdata.stage import GlobalJob, InlineTasks, Stage, Tasks

#: called by a backend as each shard ends: (shard index, {"rows", "failures"})
OnDone = Callable[[int, dict[str, Any]], None]


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


class Executor:
    """Runs a ``Pipeline`` into a run directory; backends say where shard-wise work runs."""

    #: the backend's ``--executor`` name (recorded in stats.json)
    name = "local"
    #: the build's live statistics (``stats.json``), set while ``run`` runs
    stats: StatsWriter

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

    # ----------------------------------------------------------------- backend interface
    def plan_workers(self, stage: type[Stage], n_shards: int) -> int:
        """How many workers a shard-wise step with ``n_shards`` shards to do gets on this backend."""
        raise NotImplementedError

    def nodes_for(self, stage: type[Stage], workers: int) -> int:
        """How many machines ``workers`` workers of a step spread over (1 on a one-machine backend)."""
        return 1

    def run_shards(
        self, plan: StepPlan, job: ShardJob, todo: list[int], workers: int, on_done: OnDone
    ) -> None:
        """Run shards ``todo`` of ``job`` on ``workers`` workers, calling ``on_done`` as each ends;
        raise through ``raise_stage_error`` when one fails."""
        raise NotImplementedError

    # ----------------------------------------------------------------- the build
    def run(self) -> BuildResult:
        """Run every step under the run directory's lock; raise ``AesdataError`` (finished shards kept)
        when a step fails or another build holds the lock."""
        with self.rundir.lock():
            return self._run()

    def _run(self) -> BuildResult:
        plans = plan_build(self.pipeline, self.rundir, self.limit)
        manifest = base_manifest(self.pipeline, plans, self.rundir, self.limit)
        self.rundir.write_manifest(manifest)
        result = BuildResult(self.rundir.path)
        sources: Sources = {}
        n_shards = 0
        steps = [(p.id, p.cls.name, p.cls.mode) for p in plans]
        self.stats = StatsWriter(self.rundir, self.name, steps)
        with make_progress(self.console) as progress, self.stats:
            for k, plan in enumerate(plans):
                mode = plan.cls.mode
                sd = self.rundir.step(plan.id)
                redone = sd.prepare(
                    plan.fingerprint, {"stage": plan.cls.name, "config": plan.step.config_dict()}
                )
                report = StepReport(plan.id, plan.cls.name, mode, redone=redone)
                t0 = time.perf_counter()
                manifest["steps"][k]["status"] = "running"
                self.rundir.write_manifest(manifest)
                self.stats.start_step(plan.id)
                try:
                    if mode == "source":
                        n_shards = self._run_source(plan, sd, report, progress)
                    elif mode == "global":
                        self._run_global(plan, sd, n_shards, sources, report, progress)
                    else:
                        self._run_sharded(plan, sd, n_shards, sources, report, progress)
                except BaseException:
                    self.stats.end_step(plan.id, "failed")
                    manifest["steps"][k]["status"] = "failed"
                    manifest["status"] = "failed"
                    self.rundir.write_manifest(manifest)
                    raise
                report.seconds = round(time.perf_counter() - t0, 3)
                markers = sd.markers()
                report.rows = sum(m.get("rows", 0) for m in markers)
                report.failures = sum(m.get("failures", 0) for m in markers)
                sd.mark_complete(n_shards, report.rows)
                self.stats.end_step(plan.id, "complete", report.rows, report.failures)
                sources = after_step(sources, plan.id, mode, plan.cls.outputs)
                summary = plan.stage.summarize(self.rundir.path)
                if summary is not None:
                    result.summaries[plan.id] = summary
                    manifest["summaries"][plan.id] = summary
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
        manifest["finished"] = now()
        self.rundir.write_manifest(manifest)
        return result

    def raise_stage_error(
        self, step_id: str, stage_name: str, shard: int | str, message: str, tb: str
    ) -> NoReturn:
        """Write the traceback to the log and raise one paragraph naming the step, where it failed and the log.

        ``shard``: the shard index, ``"setup"`` (the stage's setup), ``"read"`` (a source step reading its
        input) or ``"global"`` (a global step's pass over all rows)."""
        log = self.rundir.log_path(step_id, shard)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(tb or message)
        where = (
            f"shard {shard}"
            if isinstance(shard, int)
            else {"setup": "setup", "read": "reading its input"}.get(shard, "its pass over all rows")
        )
        raise AesdataError(
            f"Step {step_id!r} ({stage_name}) failed {'in' if shard == 'setup' else 'on'} {where}: {message}",
            f"Finished shards are kept; the traceback is in {log}. Fix the cause and rerun the same command to resume.",
        )

    # ----------------------------------------------------------------- sources
    def _run_source(self, plan: StepPlan, sd: StepDir, report: StepReport, progress: Progress) -> int:
        done = sd.completion()
        kept = int(done["n_shards"]) if done else 0
        checks = {i: sd.check(i, plan.fingerprint, {}) for i in range(kept)}
        redo = [i for i, c in checks.items() if c != OK]
        if done and not redo:
            report.shards = report.skipped = kept
            progress.add_task(
                plan.id, total=done["rows"], completed=done["rows"], failures=0, note="done earlier"
            )
            return kept
        self._say_redo(plan.id, checks)
        sd.clear_complete()
        task = progress.add_task(plan.id, total=None, failures=0, note="reading")
        table = self._read_source(plan)
        size = self.pipeline.shard_size
        n = (table.num_rows + size - 1) // size
        if not done or n != kept:
            redo = list(range(n))
        progress.update(task, total=table.num_rows, note="")
        for i in range(n):
            part = table.slice(i * size, size)
            if i in redo:
                sd.write_shard(i, part, {"fingerprint": plan.fingerprint, "failures": 0, "seconds": 0})
            progress.advance(task, part.num_rows)
        report.shards, report.skipped = n, n - len(redo)
        return n

    def _read_source(self, plan: StepPlan) -> pa.Table:
        """The source step's rows (``--limit`` applied), checked for ids; errors name the step and log."""
        stage = plan.stage
        try:
            stage.setup()
        except AesdataError:
            raise
        except Exception as e:
            self.raise_stage_error(plan.id, plan.cls.name, "setup", error_line(e), traceback.format_exc())
        try:
            batches = [b for b in stage.read() if b.num_rows]
        except AesdataError:
            raise
        except Exception as e:
            self.raise_stage_error(plan.id, plan.cls.name, "read", error_line(e), traceback.format_exc())
        finally:
            stage.teardown()
        table = pa.concat_tables([conform(b, list(plan.cls.outputs)) for b in batches]) if batches else None
        if table is None or table.num_rows == 0:
            raise AesdataError(
                f"Source step {plan.id!r} produced no rows.", "Check the input path and its contents."
            )
        if self.limit is not None:
            table = table.slice(0, self.limit)
        ids = table.column("id").to_pylist()
        if None in ids or len(set(ids)) != len(ids):
            raise AesdataError(f"Source step {plan.id!r} produced missing or repeated ids.")
        return table

    def _say_redo(self, step_id: str, checks: dict[int, str]) -> None:
        """Tell the user which kept shards are redone and why (a failed check, changed input)."""
        for i, c in checks.items():
            if c == CORRUPT:
                self.console.print(f"[yellow]shard {i} of step {step_id} failed its check: redoing[/]")
            elif c == INPUTS:
                self.console.print(f"[yellow]shard {i} of step {step_id}: its input changed: redoing[/]")

    # ----------------------------------------------------------------- shard-wise
    def _run_sharded(
        self,
        plan: StepPlan,
        sd: StepDir,
        n_shards: int,
        sources: Sources,
        report: StepReport,
        progress: Progress,
    ) -> None:
        fp = plan.fingerprint
        columns = input_columns(plan.cls.requires, plan.cls.uses, sources)
        checks = {i: sd.check(i, fp, self.rundir.input_hashes(i, columns, sources)) for i in range(n_shards)}
        self._say_redo(plan.id, checks)
        todo = [i for i, c in checks.items() if c != OK]
        done_rows = sum(sd.marker(i).get("rows", 0) for i in range(n_shards) if i not in todo)
        in_rows = _rows_per_shard(self.rundir, sources, n_shards)
        total = sum(in_rows) if plan.cls.mode == "map" else None
        report.shards, report.skipped = n_shards, n_shards - len(todo)
        self.stats.set_total(plan.id, total, done_rows if total else 0)
        task = progress.add_task(
            plan.id,
            total=total,
            completed=done_rows if total else 0,
            failures=0,
            note=f"{report.skipped} shards done earlier" if report.skipped else "",
        )
        if not todo:
            progress.update(task, total=done_rows, completed=done_rows)
            return
        job = ShardJob(
            plan.cls,
            plan.step.config,
            plan.context,
            self.rundir.path,
            plan.id,
            fp,
            columns,
            dict(sources),
        )
        workers = self.plan_workers(plan.cls, len(todo))
        report.workers = workers
        nodes = self.nodes_for(plan.cls, workers)
        self.stats.update(plan.id, workers=workers, nodes=nodes)
        on = f" on {nodes} nodes" if nodes > 1 else ""
        progress.update(task, note=f"{workers} worker{'s' * (workers > 1)}{on}")
        failures = 0

        def on_done(i: int, stats: dict[str, Any]) -> None:
            nonlocal failures
            failures += stats["failures"]
            rows = in_rows[i] if total else stats["rows"]
            progress.update(task, advance=rows, failures=failures)
            self.stats.advance(plan.id, rows, stats["failures"])

        self.run_shards(plan, job, todo, workers, on_done)
        if total is None:
            progress.update(task, total=progress.tasks[task].completed)

    # ----------------------------------------------------------------- global
    def task_runner(self, rows: int) -> Tasks:
        """What runs the tasks of a global step over ``rows`` rows on this backend (backends override;
        default: this process)."""
        return InlineTasks()

    def _run_global(
        self,
        plan: StepPlan,
        sd: StepDir,
        n_shards: int,
        sources: Sources,
        report: StepReport,
        progress: Progress,
    ) -> None:
        """Run a global step as its stage plans it (``Stage.run_tasks``): the tasks read the input shards
        and write the output shards; this process plans, merges small results and checks every shard."""
        fp = plan.fingerprint
        report.shards = n_shards
        columns = input_columns(plan.cls.requires, plan.cls.uses, sources)
        inputs = {
            "all shards": digest_json(
                [self.rundir.input_hashes(i, columns, sources) for i in range(n_shards)]
            )
        }
        checks = {i: sd.check(i, fp, inputs) for i in range(n_shards)}
        if all(c == OK for c in checks.values()):
            report.skipped = n_shards
            rows = sum(m.get("rows", 0) for m in sd.markers())
            progress.add_task(plan.id, total=rows, completed=rows, failures=0, note="done earlier")
            return
        in_rows = _rows_per_shard(self.rundir, sources, n_shards)
        task = progress.add_task(plan.id, total=sum(in_rows), failures=0, note="tasks over all rows")
        if any(c in (CORRUPT, INPUTS) for c in checks.values()):
            bad = [i for i, c in checks.items() if c == CORRUPT]
            why = f"shard {bad[0]} failed its check" if bad else "its input shards changed"
            self.console.print(f"[yellow]step {plan.id}: {why}: redoing the step[/]")
        sd.clear_complete()
        for i in range(n_shards):
            sd.marker_path(i).unlink(missing_ok=True)
        job = GlobalJob(self.rundir.path, plan.id, fp, columns, dict(sources), n_shards, inputs)
        stage = plan.stage
        tasks = self.task_runner(sum(in_rows))
        try:
            stage.setup()
        except AesdataError:
            raise
        except Exception as e:
            self.raise_stage_error(plan.id, plan.cls.name, "setup", error_line(e), traceback.format_exc())
        try:
            stage.run_tasks(job, tasks)
        except AesdataError:
            raise
        except Exception as e:
            self.raise_stage_error(plan.id, plan.cls.name, "global", error_line(e), traceback.format_exc())
        finally:
            getattr(tasks, "close", lambda: None)()
            stage.teardown()
        missing = [i for i in range(n_shards) if sd.marker(i).get("fingerprint") != fp]
        if missing:
            raise AesdataError(f"Global step {plan.id!r} wrote no output for shard {missing[0]}.")
        atomic_write_json(sd.path / "tasks.json", {"phases": getattr(tasks, "phases", [])})
        failures = sum(int(sd.marker(i).get("failures", 0)) for i in range(n_shards))
        progress.update(task, completed=sum(in_rows), failures=failures)


def _rows_per_shard(rundir: RunDir, sources: Sources, n_shards: int) -> list[int]:
    """Rows of each shard of the current row set, read from the base step's markers."""
    base = rundir.step(sources["id"])
    return [int(base.marker(i).get("rows", 0)) for i in range(n_shards)]
