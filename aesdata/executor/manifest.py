"""The run manifest a build writes: the spec and its overrides, hashes, versions and per-step state.

``environment_versions()`` also serves ``aesdata train`` (its provenance file).
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import aesdata
from aesdata.executor.plan import StepPlan, stable_hash
from aesdata.rundir import RunDir
from aesdata.schema import SCHEMA_VERSION
from aesdata.spec import Pipeline

#: libraries whose version changes how rows are written or scored
_LIBRARIES = (
    "pyarrow",
    "duckdb",
    "datasets",
    "playwright",
    "imagehash",
    "datasketch",
    "matplotlib",
    "seaborn",
    "plotly",
    "pillow",
)


def environment_versions() -> dict[str, str]:
    """Versions of what changes the data: Python, aesdata and the libraries that write or score it."""
    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "aesdata": aesdata.__version__,
    }
    for pkg in _LIBRARIES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def now() -> str:
    """UTC time in ISO format, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def base_manifest(
    pipeline: Pipeline, plans: list[StepPlan], rundir: RunDir, limit: int | None
) -> dict[str, Any]:
    """The manifest at the start of a build: every step ``pending``; summaries of an earlier build kept."""
    versions = environment_versions()
    steps = []
    for plan in plans:
        versions.update(plan.stage.versions())
        config = plan.step.config_dict()
        steps.append(
            {
                "id": plan.id,
                "stage": plan.cls.name,
                "mode": plan.cls.mode,
                "version": plan.cls.version,
                "fingerprint": plan.fingerprint,
                "config": config,
                "config_hash": stable_hash(config),
                "outputs": list(plan.cls.outputs),
                "resources": plan.cls.resources.model_dump(),
                "status": "pending",
            }
        )
    old = rundir.manifest_or_empty()
    ids = {p.id for p in plans}
    return {
        "aesdata_version": aesdata.__version__,
        "schema_version": SCHEMA_VERSION,
        "pipeline": {
            "name": pipeline.name,
            "path": str(pipeline.path),
            "spec_hash": pipeline.spec_hash,
            "text": pipeline.text,
            "overrides": dict(pipeline.overrides),
        },
        "limit": limit,
        "started": now(),
        "status": "running",
        "versions": versions,
        "steps": steps,
        "summaries": {k: v for k, v in old.get("summaries", {}).items() if k in ids},
    }
