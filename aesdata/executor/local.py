"""The local backend: shard-wise steps on this machine, in a pool of spawned worker processes.

Each worker process builds the stage once (``ShardRunner``: ``setup``), takes shard indices from a
queue until it gets None, and tears the stage down; results and errors (with the traceback) come back
on a second queue. A step planned for one worker runs in the parent process (no start-up cost).
Worker counts come from the stage's ``Resources`` and this machine (``aesdata.resources``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import traceback
from typing import Any

from aesdata.errors import AesdataError
from aesdata.executor.base import Executor, OnDone
from aesdata.executor.plan import StepPlan
from aesdata.executor.shards import ShardJob, ShardRunner, error_line
from aesdata.executor.tasks import SMALL_GLOBAL_ROWS, LocalTasks
from aesdata.resources import plan_workers
from aesdata.stage import Stage


def _worker_main(job: ShardJob, tasks: Any, results: Any) -> None:
    """Process-pool worker: set the stage up once, run shards from ``tasks`` until None, tear down."""
    try:
        with ShardRunner(job) as runner:
            results.put(("ready", os.getpid(), None))
            while (i := tasks.get()) is not None:
                results.put(("start", i, os.getpid()))
                try:
                    results.put(("ok", i, runner.run(i)))
                except Exception as e:  # reported to the parent with the traceback
                    results.put(("error", i, (error_line(e), traceback.format_exc())))
    except Exception as e:
        results.put(("error", "setup", (error_line(e), traceback.format_exc())))


class LocalExecutor(Executor):
    """Runs a ``Pipeline`` into a run directory on this machine."""

    def plan_workers(self, stage: type[Stage], n_shards: int) -> int:
        """Workers from this machine's CPUs, GPUs and memory and the stage's ``Resources``."""
        return plan_workers(stage.resources, n_shards, self.workers)

    def run_shards(
        self, plan: StepPlan, job: ShardJob, todo: list[int], workers: int, on_done: OnDone
    ) -> None:
        if workers == 1:
            with ShardRunner(job) as runner:
                for i in todo:
                    try:
                        on_done(i, runner.run(i))
                    except AesdataError:
                        raise
                    except Exception as e:
                        self.raise_stage_error(
                            plan.id, plan.cls.name, i, error_line(e), traceback.format_exc()
                        )
            return
        self._run_pool(plan, job, todo, workers, on_done)

    def _run_pool(
        self, plan: StepPlan, job: ShardJob, todo: list[int], workers: int, on_done: OnDone
    ) -> None:
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
        running: dict[int, int] = {}  # worker pid -> the shard it runs
        try:
            while pending:
                try:
                    kind, i, payload = results.get(timeout=1.0)
                except queue.Empty:
                    dead = [p for p in procs if p.exitcode not in (None, 0)]
                    if dead:
                        self._worker_died(plan, dead[0], running.get(dead[0].pid or -1), min(pending))
                    continue
                if kind == "start":
                    running[payload] = i
                elif kind == "ok":
                    pending.discard(i)
                    on_done(i, payload)
                elif kind == "error":
                    self.raise_stage_error(plan.id, plan.cls.name, i, *payload)
        finally:
            for proc in procs:
                if proc.is_alive() and pending:
                    proc.terminate()
            for proc in procs:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.kill()

    def _worker_died(self, plan: StepPlan, proc: Any, shard: int | None, fallback: int) -> None:
        """Raise for a worker process that died: the shard it was running (else the first one left)."""
        line = f"worker process {proc.pid} died (exit code {proc.exitcode})"
        where = f"while running shard {shard}" if shard is not None else "before it took a shard"
        self.raise_stage_error(
            plan.id,
            plan.cls.name,
            shard if shard is not None else fallback,
            f"a {line}",
            f"The {line} {where}: killed by a signal (negative code: -9 is SIGKILL, often the kernel's "
            "out-of-memory killer) or exited without a Python traceback.\n",
        )

    def task_runner(self, rows: int) -> LocalTasks:
        """Global steps' tasks on a pool of this machine's processes (``--workers`` of them when given;
        without ``--workers``, a step of fewer than ``SMALL_GLOBAL_ROWS`` rows runs them in this process)."""
        return LocalTasks(self.workers or (1 if rows < SMALL_GLOBAL_ROWS else None))
