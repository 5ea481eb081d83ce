"""Task runners for global steps: many small picklable ``(function, args)`` calls, on this machine or on Ray.

A global stage (``Stage.run_tasks``) plans its work as phases of tasks (dedup: features per shard, index
partitions, components, output shards; export: one task per shard, one per file) and hands each phase to
the runner its executor gives it (``Executor.task_runner``):

- ``LocalTasks``: a pool of spawned processes on this machine, kept for the step, with at most as many
  calls at once as the CPUs and memory fit (each call declares ``cpus`` and ``memory_gb``);
- ``RayTasks``: one Ray task per call with ``num_cpus`` / ``memory`` reserved and ``max_retries``
  (a call lost with its worker or node is rerun; tasks are idempotent: they write files atomically).

Both record, per phase, the wall time and the peak resident memory of the processes that ran it
(``resource.getrusage``, measured inside the task and returned with its result) in ``phases``; the
executor writes them to the step's ``tasks.json``.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

from aesdata.resources import machine_cpus, machine_memory_gb

T = TypeVar("T")

#: retries of a Ray task lost with its worker or node
RAY_RETRIES = 3
#: without ``--workers``, the local backend runs the tasks of a global step over fewer rows in its own
#: process (a process pool's start-up costs more than such a step)
SMALL_GLOBAL_ROWS = 2000


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measured(fn: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, float]:
    """``fn(*args)`` and the peak RSS (MiB) of the process that ran it."""
    return fn(*args), peak_rss_mb()


class _Recorder:
    """Per-phase stats: name, calls, seconds, peak RSS of the processes that ran them."""

    def __init__(self) -> None:
        self.phases: list[dict[str, Any]] = []

    def record(self, name: str, calls: int, t0: float, rss: list[float]) -> None:
        self.phases.append(
            {
                "phase": name,
                "tasks": calls,
                "seconds": round(time.perf_counter() - t0, 3),
                "peak_rss_mb": round(max(rss, default=0.0), 1),
            }
        )


class LocalTasks(_Recorder):
    """Tasks on a pool of ``workers`` spawned processes (default: the machine's CPUs), made at first use;
    with one worker they run in this process (no start-up)."""

    def __init__(self, workers: int | None = None) -> None:
        super().__init__()
        self.workers = max(1, workers or machine_cpus())
        self._pool: ProcessPoolExecutor | None = None

    def map(
        self,
        fn: Callable[..., T],
        calls: Sequence[tuple[Any, ...]],
        *,
        name: str,
        cpus: float = 1.0,
        memory_gb: float = 1.0,
        limit: int | None = None,
    ) -> list[T]:
        t0 = time.perf_counter()
        fit = min(
            self.workers,
            max(1, int(machine_cpus() // max(cpus, 0.01))),
            max(1, int(machine_memory_gb() // max(memory_gb, 0.01))),
            limit or self.workers,
        )
        if self.workers == 1:
            results = [fn(*args) for args in calls]
            self.record(name, len(calls), t0, [peak_rss_mb()])
            return results
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        results: list[Any] = [None] * len(calls)
        rss: list[float] = []
        running: dict[Future[tuple[T, float]], int] = {}
        todo = list(enumerate(calls))
        while todo or running:
            while todo and len(running) < fit:
                k, args = todo.pop(0)
                running[self._pool.submit(_measured, fn, args)] = k
            done = _first_done(running)
            k = running.pop(done)
            results[k], peak = done.result()
            rss.append(peak)
        self.record(name, len(calls), t0, rss)
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _first_done(running: dict[Future[Any], int]) -> Future[Any]:
    return next(iter(wait(running, return_when=FIRST_COMPLETED).done))


class RayTasks(_Recorder):
    """Tasks as Ray tasks (``ray``: the initialised module) with their resources and ``RAY_RETRIES``."""

    def __init__(self, ray: Any) -> None:
        super().__init__()
        self.ray = ray

    def map(
        self,
        fn: Callable[..., T],
        calls: Sequence[tuple[Any, ...]],
        *,
        name: str,
        cpus: float = 1.0,
        memory_gb: float = 1.0,
        limit: int | None = None,
    ) -> list[T]:
        t0 = time.perf_counter()
        remote = self.ray.remote(
            num_cpus=cpus, memory=int(memory_gb * 2**30), max_retries=RAY_RETRIES, retry_exceptions=False
        )(_measured)
        refs: list[Any] = []
        out: list[tuple[T, float]] = []
        for args in calls:  # at most ``limit`` in flight when one is given
            if limit and len(refs) - len(out) >= limit:
                out.append(self.ray.get(refs[len(out)]))
            refs.append(remote.remote(fn, args))
        out += self.ray.get(refs[len(out) :])
        self.record(name, len(calls), t0, [peak for _, peak in out])
        return [r for r, _ in out]

    def close(self) -> None:
        """Nothing held between phases (Ray owns its workers)."""
