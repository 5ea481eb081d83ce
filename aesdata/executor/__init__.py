"""Executors: run a pipeline's steps over shards into a run directory, resumably, on some backend.

Siblings, one job each (the shape of datatrove's ``executor/{base,local,ray}``):

- ``plan``: each step's stage object (built once, in the parent) and chained fingerprint;
- ``base``: the build loop every backend shares (resume, source and global steps, manifest, errors);
- ``shards``: the worker side of a shard-wise step (``ShardJob``, ``ShardRunner``);
- ``local``: shard-wise steps in a process pool on this machine (the default);
- ``ray_backend``: shard-wise steps on Ray actors (``--executor ray``), with ``nodes`` (bounded connect,
  alive nodes, what fits where) and ``envcheck`` (each node's environment against the driver's);
- ``manifest``: what the run manifest records; ``progress``: the rich progress display; ``stats``: the
  live ``stats.json`` both backends write.

Worker sizing lives on the ground floor, in ``aesdata.resources``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError
from aesdata.executor.base import BuildResult, Executor, StepReport
from aesdata.executor.local import LocalExecutor
from aesdata.spec import Pipeline

__all__ = ["BACKENDS", "BuildResult", "Executor", "LocalExecutor", "StepReport", "make_executor"]

#: ``--executor`` names
BACKENDS = ("local", "ray")


def make_executor(kind: str, pipeline: Pipeline, run_dir: Path, **kwargs: Any) -> Executor:
    """The executor ``kind`` names (``local`` or ``ray``; ``address=`` reaches a Ray cluster)."""
    if kind == "ray":
        from aesdata.executor.ray_backend import RayExecutor

        return RayExecutor(pipeline, run_dir, **kwargs)
    if kind != "local":
        raise AesdataError(f"Unknown --executor {kind!r}.", f"Use one of: {', '.join(BACKENDS)}.")
    kwargs.pop("address", None)
    return LocalExecutor(pipeline, run_dir, **kwargs)
