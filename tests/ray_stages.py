"""Stages used only by the Ray cluster tests: cheap, deterministic, and telling where they ran.

- ``test_node_tag`` (per node): each worker writes ``<stage_dir>/workers/<node>-<pid>.json`` with its
  node id and the CPUs it sees (``machine_cpus()``: the reservation), and tags rows with its node;
- ``test_node_slow``: a deterministic score like ``test_slow_score`` that writes
  ``<stage_dir>/running/shard-<first id>.json`` (its node) as a shard starts, then sleeps;
- ``test_greedy``: asks for more CPUs than any test node has.

A pipeline loads them with ``plugins: [tests.ray_stages]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pyarrow as pa
from pydantic import Field

from aesdata.resources import machine_cpus
from aesdata.stage import Resources, Stage, StageConfig, register


def node_id() -> str:
    """The Ray node this process runs on, or ``local`` outside Ray."""
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return "local"


@register
class NodeTag(Stage):
    """Per-node stage: rows get ``static_judge`` = the worker's node, ``static_score`` = its CPUs."""

    name = "test_node_tag"
    summary = "test stage: one worker per node, tags rows with it"
    mode = "map"
    resources = Resources(cpus=1, memory_gb=0.1, per_node=True)
    requires = ("code",)
    outputs = ("static_score", "static_judge")

    def setup(self) -> None:
        folder = self.context.stage_dir / "workers"
        folder.mkdir(parents=True, exist_ok=True)
        me = {"node": node_id(), "cpus": machine_cpus(), "pid": os.getpid()}
        (folder / f"{me['node']}-{me['pid']}.json").write_text(json.dumps(me))

    def process(self, table: pa.Table) -> pa.Table:
        n = table.num_rows
        return pa.table({"static_score": [float(machine_cpus())] * n, "static_judge": [node_id()] * n})


class NodeSlowConfig(StageConfig):
    delay_ms: float = Field(default=0.0, ge=0)


@register
class NodeSlow(Stage):
    """Deterministic ``static_score`` from the code; says where each shard runs, then sleeps."""

    name = "test_node_slow"
    summary = "test stage: deterministic score, records the node of each shard, optionally slow"
    mode = "map"
    Config = NodeSlowConfig
    resources = Resources(cpus=1, memory_gb=0.1)
    requires = ("code",)
    outputs = ("static_score", "static_judge")
    config: NodeSlowConfig

    def process(self, table: pa.Table) -> pa.Table:
        folder = self.context.stage_dir / "running"
        folder.mkdir(parents=True, exist_ok=True)
        first = table.column("id")[0].as_py()
        (folder / f"shard-{first}.json").write_text(json.dumps({"node": node_id(), "pid": os.getpid()}))
        time.sleep(self.config.delay_ms / 1000 * table.num_rows)
        codes = table.column("code").to_pylist()
        scores = [float(hashlib.sha256(c.encode()).digest()[0] % 100) for c in codes]
        return pa.table({"static_score": scores, "static_judge": ["test"] * len(codes)})


@register
class Greedy(Stage):
    """Asks for 64 CPUs per worker (no test node has them)."""

    name = "test_greedy"
    summary = "test stage: an infeasible request"
    mode = "map"
    resources = Resources(cpus=64, memory_gb=0.1)
    requires = ("code",)
    outputs = ("exec_pass",)

    def process(self, table: pa.Table) -> pa.Table:
        return pa.table({"exec_pass": [True] * table.num_rows})


@register
class DieOn(Stage):
    """Kills its own worker process (exit code 9) on the shard holding a row whose code contains 'DIE';
    sleeps 1 s on every other shard."""

    name = "test_die"
    summary = "test stage: a worker process that dies"
    mode = "map"
    requires = ("code",)
    outputs = ("exec_pass",)

    def process(self, table: pa.Table) -> pa.Table:
        if any("DIE" in c for c in table.column("code").to_pylist()):
            os._exit(9)
        time.sleep(1)
        return pa.table({"exec_pass": [True] * table.num_rows})
