"""The Ray backend: the same pipeline, its shard-wise steps on the actors of a Ray cluster.

Connecting is bounded (``nodes.connect``: a wrong ``--ray-address`` is an error in seconds). At the
start of a build every shard-wise step's request is checked against the alive nodes, then every alive node runs a small task pinned to it (``envcheck.node_report``): a node
whose aesdata, Python, libraries or, for pipelines with a browser stage, Chromium, fonts, plot sandbox
or asset store differ from the driver's stops the build with one paragraph naming the node.

Each shard-wise step gets actors placed node by node (``nodes.placement``): a ``per_node`` stage
(render) one actor per alive node, reserving the node's CPUs; other stages as many actors as fit on
each node, ``max_workers`` being a per-node cap. Every actor is pinned to its node
(``NodeAffinitySchedulingStrategy``, not soft) and declares its CPUs, GPUs, memory and, where nodes
declare the ``browser_slots`` resource, browser slots. Before a step starts its request is checked
against the alive nodes (``nodes.check_fits``), so a request no node can hold is an error naming the
step, the request and the largest node, not a silent wait. An actor builds a ``ShardRunner`` (the
stage set up once, sized by ``machine_cpus()`` to the CPUs Ray reserved for it) and runs the shards
the driver hands it one at a time.

Lost actors and nodes: an actor that dies (its process, or its node) fails the shard it was running
with a ``RayActorError``; the shard goes back to the queue, at most ``MAX_ATTEMPTS`` runs in all, and
the actors are topped up to the placement the alive nodes allow now. Ray's own ``max_restarts`` is not
used: it restarts an actor in place, which cannot happen on a dead node, and hides from the driver which
shard was lost. A stage error is not retried (it would fail again): it names its shard, with the full
traceback in the shard's log, like the local backend.

Everything an actor needs travels in the pickled ``ShardJob`` (the step's config, build-time overrides
included), never in the driver's environment. Shards are read from and written to the run directory by
the actors themselves, so the run directory must be on storage every node sees (NFS, a shared disk).
Resume, fingerprints and markers are the local backend's: a build can be started on Ray and resumed
locally, or the reverse.

Needs the ``ray`` extra (``pip install 'aesdata[ray]'``).
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from collections import Counter, deque
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError
from aesdata.executor.base import BuildResult, Executor, OnDone
from aesdata.executor.envcheck import node_report, raise_if_different
from aesdata.executor.nodes import (
    Node,
    alive_nodes,
    browser_declared,
    check_fits,
    connect,
    placement,
    request,
    worker_cpus,
)
from aesdata.executor.plan import StepPlan
from aesdata.executor.shards import ShardJob, ShardRunner, error_line
from aesdata.executor.tasks import RayTasks
from aesdata.spec import Pipeline
from aesdata.stage import Stage

#: runs of one shard at most when the actors running it are lost (node or process gone)
MAX_ATTEMPTS = 3
#: seconds without any ready worker of a step before the build says it is waiting for Ray
PLACE_WARN_S = 60.0
#: seconds to wait for the node checks
CHECK_TIMEOUT_S = 120.0


class ShardActor:
    """Body of a Ray actor: one stage instance, set up once, running the shards it is given.

    A failing setup is kept and reported by ``ready`` (so the driver tells it from a lost actor)."""

    def __init__(self, job: ShardJob) -> None:
        self.runner: ShardRunner | None = None
        self.setup_error: tuple[str, str] | None = None
        try:
            self.runner = ShardRunner(job).__enter__()
        except Exception as e:
            self.setup_error = (error_line(e), traceback.format_exc())

    def ready(self) -> tuple[str, Any]:
        """``("ready", node id)``, or ``("setup", (line, traceback))`` when the stage's setup failed."""
        if self.setup_error:
            return "setup", self.setup_error
        import ray

        return "ready", ray.get_runtime_context().get_node_id()

    def run(self, i: int) -> tuple[str, Any]:
        """Run shard ``i``: ``("ok", stats)`` or ``("error", (line, traceback))``."""
        assert self.runner is not None
        try:
            return "ok", self.runner.run(i)
        except Exception as e:  # returned, so the driver reports it like a local failure
            return "error", (error_line(e), traceback.format_exc())

    def close(self) -> None:
        if self.runner is not None:
            self.runner.__exit__(None, None, None)


class RayExecutor(Executor):
    """Runs a ``Pipeline``'s shard-wise steps on Ray actors (``address``: a cluster, or None for a local Ray)."""

    name = "ray"

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
            connect(ray, address)
        self.ray = ray

    # ----------------------------------------------------------------- start: the nodes' environment
    def run(self) -> BuildResult:
        """Check that every shard-wise step fits some node and every node's environment, then build."""
        nodes = alive_nodes(self.ray)
        for step in self.pipeline.steps:
            if step.stage.mode in ("map", "expand"):
                check_fits(step.id, step.stage.name, step.stage.resources, nodes)
        self.check_nodes()
        return super().run()

    def check_nodes(self) -> None:
        """Run ``node_report`` on every alive node (pinned, no CPU reserved); raise ``AesdataError``
        naming each node whose environment differs from the driver's."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        browser = any(s.stage.resources.browser_slots > 0 for s in self.pipeline.steps)
        nodes = alive_nodes(self.ray)
        task = self.ray.remote(num_cpus=0, max_retries=1)(node_report)
        refs = [
            task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n.id, soft=False)).remote(browser)
            for n in nodes
        ]
        try:
            reports = self.ray.get(refs, timeout=CHECK_TIMEOUT_S)
        except self.ray.exceptions.GetTimeoutError:
            raise AesdataError(
                f"The environment check on the Ray nodes did not finish within {CHECK_TIMEOUT_S:.0f} s.",
                "A node may be starting or overloaded; `ray status` shows them.",
            ) from None
        raise_if_different(node_report(browser), {n.label(): r for n, r in zip(nodes, reports, strict=True)})

    # ----------------------------------------------------------------- backend interface
    def plan_workers(self, stage: type[Stage], n_shards: int) -> int:
        """Workers as the alive nodes fit them (one per node for ``per_node`` stages), capped by shards
        and ``--workers``."""
        return max(1, len(placement(stage.resources, alive_nodes(self.ray), n_shards, self.workers)))

    def nodes_for(self, stage: type[Stage], workers: int) -> int:
        """The nodes the first ``workers`` workers of the placement are on."""
        return len({n.id for n in placement(stage.resources, alive_nodes(self.ray), workers, self.workers)})

    def run_shards(
        self, plan: StepPlan, job: ShardJob, todo: list[int], workers: int, on_done: OnDone
    ) -> None:
        res = plan.cls.resources
        nodes = alive_nodes(self.ray)
        check_fits(plan.id, plan.cls.name, res, nodes)
        pool = _ActorPool(self.ray, plan, job, min(workers, len(todo)), self.workers)
        running: dict[Any, tuple[Any, int | None]] = {ref: (a, None) for a, ref in pool.top_up().items()}
        self.stats.update(plan.id, workers=len(pool.actors), nodes=len({n.id for n in pool.actors.values()}))
        queue = deque(todo)
        attempts: Counter[int] = Counter()
        waiting_since: float | None = time.monotonic()  # no actor ready yet
        try:
            while queue or any(i is not None for _, i in running.values()):
                if waiting_since is not None and time.monotonic() - waiting_since > PLACE_WARN_S:
                    self.console.print(
                        f"[yellow]step {plan.id}: Ray has not started any of its {len(pool.actors)} workers "
                        f"after {PLACE_WARN_S:.0f} s; `ray status` shows what holds the cluster's resources[/]"
                    )
                    waiting_since = None
                while pool.idle and queue:
                    actor = pool.idle.pop()
                    i = queue.popleft()
                    attempts[i] += 1
                    running[actor.run.remote(i)] = (actor, i)
                if not running:  # every actor lost and none could be placed
                    check_fits(plan.id, plan.cls.name, res, alive_nodes(self.ray))
                    for actor, ref in pool.top_up().items():
                        running[ref] = (actor, None)
                    if not running:
                        raise AesdataError(f"Step {plan.id!r} ({plan.cls.name}) has no Ray worker left.")
                    continue
                finished, _ = self.ray.wait(list(running), num_returns=1, timeout=1.0)
                for ref in finished:
                    actor, i = running.pop(ref)
                    try:
                        kind, payload = self.ray.get(ref)
                    except (self.ray.exceptions.RayActorError, self.ray.exceptions.WorkerCrashedError) as e:
                        pool.lost(actor)
                        if i is not None:
                            if attempts[i] >= MAX_ATTEMPTS:
                                self.raise_stage_error(
                                    plan.id,
                                    plan.cls.name,
                                    i,
                                    f"its Ray worker was lost {attempts[i]} times ({error_line(e)})",
                                    "".join(traceback.format_exception(e)),
                                )
                            queue.appendleft(i)
                            self.stats.retried(plan.id)
                            self.console.print(
                                f"[yellow]step {plan.id}: shard {i} lost its Ray worker ({error_line(e)}): "
                                f"running it again (attempt {attempts[i] + 1} of {MAX_ATTEMPTS})[/]"
                            )
                        for new, probe in pool.top_up().items():
                            running[probe] = (new, None)
                        continue
                    if kind == "setup":
                        self.raise_stage_error(plan.id, plan.cls.name, "setup", *payload)
                    if kind == "error":
                        self.raise_stage_error(plan.id, plan.cls.name, i, *payload)
                    pool.idle.append(actor)
                    waiting_since = None
                    if kind == "ok":
                        on_done(i, payload)  # type: ignore[arg-type]
            pool.close()
        finally:
            pool.kill()

    def task_runner(self, rows: int) -> RayTasks:
        """Global steps' tasks as Ray tasks with their resources and retries."""
        return RayTasks(self.ray)


class _ActorPool:
    """The actors of one step, each pinned to its node; ``top_up`` (re)creates what the alive nodes allow."""

    def __init__(self, ray: Any, plan: StepPlan, job: ShardJob, workers: int, override: int | None) -> None:
        self.ray, self.plan, self.job = ray, plan, job
        self.workers, self.override = workers, override
        self.actors: dict[Any, Node] = {}
        self.idle: list[Any] = []
        self.created = 0
        self.actor_cls = ray.remote(ShardActor)

    def top_up(self) -> dict[Any, Any]:
        """Create the actors the placement over the alive nodes asks for and are missing; return
        {new actor: its ``ready`` probe}. Bounded: at most ``MAX_ATTEMPTS`` times the workers in all."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        res = self.plan.cls.resources
        nodes = alive_nodes(self.ray)
        browser = browser_declared(nodes)
        have = Counter(n.id for n in self.actors.values())
        new: dict[Any, Any] = {}
        for node in placement(res, nodes, self.workers, self.override):
            if have[node.id] > 0:
                have[node.id] -= 1
                continue
            if self.created >= MAX_ATTEMPTS * max(self.workers, 1):
                break
            cpus = worker_cpus(res, node)
            options = request(res, browser, cpus)
            actor = self.actor_cls.options(
                **options,
                max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.id, soft=False),
            ).remote(dataclasses.replace(self.job, cpus=cpus))
            self.created += 1
            self.actors[actor] = node
            new[actor] = actor.ready.remote()
        return new

    def lost(self, actor: Any) -> None:
        """Forget a dead actor, and every actor on a node that is no longer alive (idle ones would
        otherwise each cost a shard one of its attempts)."""
        alive = {n.id for n in alive_nodes(self.ray)}
        for a in [actor, *(a for a, node in self.actors.items() if node.id not in alive)]:
            self.actors.pop(a, None)
            if a in self.idle:
                self.idle.remove(a)
            self.ray.kill(a)

    def close(self) -> None:
        """Tear every stage down (waits for the actors' ``teardown``)."""
        deadline = time.monotonic() + 60
        refs = [a.close.remote() for a in self.actors]
        self.ray.wait(refs, num_returns=len(refs), timeout=max(1.0, deadline - time.monotonic()))

    def kill(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
