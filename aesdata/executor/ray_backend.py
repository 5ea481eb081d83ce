"""The Ray backend: the same pipeline, its shard-wise steps on the actors of a Ray cluster.

Each shard-wise step gets a pool of Ray actors, one per worker, created with the step's declared
resources (``num_cpus``, ``num_gpus``, ``memory``); an actor builds a ``ShardRunner`` (the stage, set
up once), runs the shards ``ray.util.ActorPool`` hands it and tears the stage down at the end, exactly
like a local worker process. Everything an actor needs travels in the pickled ``ShardJob`` (the step's
config, build-time overrides included), never in the driver's environment. Shards are read from and
written to the run directory by the actors themselves, so the run directory must be on storage every
node sees (NFS, a shared disk); source and global steps run on the driver. Resume, fingerprints and
markers are the local backend's: a build can be started on Ray and resumed locally, or the reverse.

Needs the ``ray`` extra (``pip install 'aesdata[ray]'``).
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError
from aesdata.executor.base import Executor, OnDone
from aesdata.executor.plan import StepPlan
from aesdata.executor.shards import ShardJob, ShardRunner, error_line
from aesdata.executor.tasks import RayTasks
from aesdata.resources import plan_workers
from aesdata.spec import Pipeline
from aesdata.stage import Stage


class ShardActor:
    """Body of a Ray actor: one stage instance, set up once, running the shards it is given."""

    def __init__(self, job: ShardJob) -> None:
        self.runner = ShardRunner(job).__enter__()

    def run(self, i: int) -> tuple[str, int, Any]:
        try:
            return "ok", i, self.runner.run(i)
        except Exception as e:  # returned, so the driver reports it like a local failure
            return "error", i, (error_line(e), traceback.format_exc())

    def close(self) -> None:
        self.runner.__exit__(None, None, None)


class RayExecutor(Executor):
    """Runs a ``Pipeline``'s shard-wise steps on Ray actors (``address``: a cluster, or None for a local Ray)."""

    def __init__(
        self, pipeline: Pipeline, run_dir: Path, *, address: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(pipeline, run_dir, **kwargs)
        try:
            import ray
        except ImportError:
            raise AesdataError(
                "--executor ray needs Ray.", "Install it with: pip install 'aesdata[ray]'."
            ) from None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address, include_dashboard=False, log_to_driver=False, configure_logging=False
                )
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise AesdataError(
                    f"Cannot connect to the Ray cluster at {address!r}: {e}.",
                    "Start it with `ray start --head`, or leave out --ray-address for a local one.",
                ) from None
        self.ray = ray

    def plan_workers(self, stage: type[Stage], n_shards: int) -> int:
        """Workers from the cluster's resources instead of this machine's."""
        total = self.ray.cluster_resources()
        return plan_workers(
            stage.resources,
            n_shards,
            self.workers,
            cpus=total.get("CPU", 1.0),
            gpus=total.get("GPU", 0.0),
            memory_gb=total.get("memory", 0.0) / 2**30,
        )

    def run_shards(
        self, plan: StepPlan, job: ShardJob, todo: list[int], workers: int, on_done: OnDone
    ) -> None:
        from ray.util import ActorPool

        res = plan.cls.resources
        actor_cls = self.ray.remote(num_cpus=res.cpus, num_gpus=res.gpus, memory=int(res.memory_gb * 2**30))(
            ShardActor
        )
        actors = [actor_cls.remote(job) for _ in range(workers)]
        try:
            pool = ActorPool(actors)
            for kind, i, payload in pool.map_unordered(lambda actor, shard: actor.run.remote(shard), todo):
                if kind == "error":
                    self.raise_stage_error(plan.id, plan.cls.name, i, *payload)
                on_done(i, payload)
            self.ray.get([a.close.remote() for a in actors])
        except self.ray.exceptions.RayActorError as e:
            self.raise_stage_error(
                plan.id, plan.cls.name, min(todo), f"a Ray actor died ({error_line(e)})", ""
            )
        finally:
            for actor in actors:
                self.ray.kill(actor)

    def task_runner(self, rows: int) -> RayTasks:
        """Global steps' tasks as Ray tasks with their resources and retries."""
        return RayTasks(self.ray)
