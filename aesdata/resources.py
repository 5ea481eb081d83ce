"""What one worker of a stage needs, and what this machine has: the ground floor of worker planning.

Imports nothing of aesdata, so a stage, the executor backends and the dedup pool can all ask
``machine_cpus()`` without importing each other.

``Resources`` is declared by each stage class; an executor backend turns it into a worker count
(``plan_workers`` below) and, on Ray, into the actor's resource request. ``cpus`` and
``gpus`` size the pool; ``memory_gb`` caps it by the memory there is (locally: this machine's RAM; on
Ray: declared to the scheduler); ``browser_slots`` says how many Chromium pages one worker keeps open
at once (shown by ``aesdata stages``); ``max_workers`` caps the pool for stages that parallelise inside
one worker.
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


def machine_cpus() -> int:
    """CPUs this process may use (affinity-aware)."""
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
    cpus // res.cpus, capped by GPUs, memory, ``max_workers`` and ``n_shards``; ``override`` (the CLI's
    ``--workers``) replaces the computed count, still capped by the shards.
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
    return max(1, min(n, n_shards))
