"""Planning a build: each step's stage object (built once, in the parent), context and chained fingerprint.

A step's fingerprint hashes its stage name and version, its config without tuning keys
(``aesdata.config.fingerprint_dict``), the stage's ``fingerprint_extra()`` (input file hashes, the asset
lock...), the schema version and the upstream step's fingerprint; a source step adds the shard size and
``--limit``. So a changed config or input redoes its step and, through the chain, everything downstream,
while a changed worker count or concurrency redoes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aesdata.config import fingerprint_dict
from aesdata.rundir import RunDir
from aesdata.schema import SCHEMA_VERSION
from aesdata.spec import Pipeline, Step
from aesdata.stage import Stage, StageContext


def stable_hash(obj: Any) -> str:
    """sha256 (16 hex) of ``obj`` as canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class StepPlan:
    """One step of a build: the pipeline step, its one parent-side stage object, context and fingerprint."""

    step: Step
    stage: Stage
    context: StageContext
    fingerprint: str

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def cls(self) -> type[Stage]:
        return self.step.stage


def plan_build(pipeline: Pipeline, rundir: RunDir, limit: int | None) -> list[StepPlan]:
    """Build every step's stage once and chain the fingerprints from the first step."""
    plans: list[StepPlan] = []
    upstream = ""
    for step in pipeline.steps:
        context = StageContext(
            spec_dir=pipeline.path.parent,
            run_dir=rundir.path,
            stage_dir=rundir.step(step.id).path,
            limit=limit,
            settings=pipeline.settings,
        )
        stage = step.stage(step.config, context)
        parts: dict[str, Any] = {
            "stage": step.stage.name,
            "version": step.stage.version,
            "config": fingerprint_dict(step.config),
            "extra": stage.fingerprint_extra(),
            "upstream": upstream,
            "schema": SCHEMA_VERSION,
        }
        if step.stage.mode == "source":
            parts.update(shard_size=pipeline.shard_size, limit=limit)
        upstream = stable_hash(parts)
        plans.append(StepPlan(step, stage, context, upstream))
    return plans
