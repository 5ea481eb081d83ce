"""What one worker of a stage needs, and what this machine has: the ground floor of worker planning.

Imports nothing of aesdata, so a stage, the executor backends and the dedup pool can all ask
``machine_cpus()`` without importing each other.

``Resources`` is declared by each stage class; an executor backend turns it into a worker count
(``plan_workers`` below) and, on Ray, into the actor's resource request. ``cpus`` and
``gpus`` size the pool; ``memory_gb`` caps it by the memory there is (locally: this machine's RAM; on
Ray: declared to the scheduler); ``browser_slots`` says how many Chromium pages one worker keeps open
at once (shown by ``aesdata stages``; on Ray also a custom resource when nodes declare one);
``max_workers`` caps the pool for stages that parallelise inside one worker (per machine: on a cluster,
per node); ``per_node`` asks for one worker per machine, sized to the whole machine (the render step: its
browser pool and plot workers use every core it is given).

A worker may be given fewer CPUs than the machine has (a Ray actor gets what Ray reserved for it):
``reserve_cpus`` records that for the worker process, and ``machine_cpus()`` then answers the
reservation, so everything sized from ``machine_cpus()`` inside the worker (browser pool, plot workers,
dedup's pool) fits what the scheduler set aside.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict


class Resources(BaseModel):
    """What one worker of a stage needs (see module docstring)."""

    model_config = ConfigDict(frozen=True)

    cpus: float = 1.0
    browser_slots: int = 0
    gpus: float = 0.0
    memory_gb: float = 0.5
    max_workers: int | None = None
    per_node: bool = False


#: CPUs reserved for this worker process by its executor (None: the whole machine)
_reserved_cpus: int | None = None


def reserve_cpus(cpus: float | None) -> int | None:
    """Record that this worker process was given ``cpus`` CPUs (None: the machine); return the previous value."""
    global _reserved_cpus
    previous = _reserved_cpus
    _reserved_cpus = max(1, int(cpus)) if cpus else None
    return previous


def machine_cpus() -> int:
    """CPUs this process may use: the executor's reservation when one was made, else affinity-aware."""
    if _reserved_cpus is not None:
        return _reserved_cpus
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def machine_memory_gb() -> float:
    """Physical memory of this machine in GiB (0 when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 0.0


def gpu_count() -> int:
    """GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else 1 (a GPU stage then runs alone)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip()])
    return 1


def plan_workers(
    res: Resources,
    n_shards: int,
    override: int | None = None,
    cpus: float | None = None,
    gpus: float | None = None,
    memory_gb: float | None = None,
) -> int:
    """Workers for a shard-wise stage that needs ``res`` per worker.

    ``cpus`` / ``gpus`` / ``memory_gb``: what there is (default: this machine's). The count is
    cpus // res.cpus, capped by GPUs, memory, ``max_workers`` and ``n_shards`` (1 for a ``per_node``
    stage); ``override`` (the CLI's ``--workers``) replaces the computed count, still capped by the shards.
    """
    if override:
        return max(1, min(override, n_shards))
    n = max(1, int((cpus or machine_cpus()) // max(res.cpus, 0.01)))
    if res.gpus > 0:
        n = min(n, max(1, int((gpus if gpus is not None else gpu_count()) // res.gpus)))
    memory = memory_gb if memory_gb is not None else machine_memory_gb()
    if memory > 0 and res.memory_gb > 0:
        n = min(n, max(1, int(memory // res.memory_gb)))
    if res.max_workers:
        n = min(n, res.max_workers)
    if res.per_node:
        n = 1
    return max(1, min(n, n_shards))


def node_slots(res: Resources, node: dict[str, float]) -> int:
    """Workers of a stage needing ``res`` that fit on one node with total resources ``node``.

    ``node`` uses Ray's names: ``CPU``, ``GPU``, ``memory`` (bytes) and, when the node declares it,
    ``browser_slots``. A ``per_node`` stage gets 1 where it fits; others as many as fit, capped by
    ``max_workers`` (a per-machine cap). 0 when one worker does not fit.
    """
    fits = [node.get("CPU", 0.0) / max(res.cpus, 0.01)]
    if res.gpus > 0:
        fits.append(node.get("GPU", 0.0) / res.gpus)
    if res.memory_gb > 0 and node.get("memory"):
        fits.append(node["memory"] / 2**30 / res.memory_gb)
    if res.browser_slots > 0 and "browser_slots" in node:
        fits.append(node["browser_slots"] / res.browser_slots)
    n = int(min(fits) + 1e-9)
    if n < 1:
        return 0
    if res.per_node:
        return 1
    return min(n, res.max_workers) if res.max_workers else n
