"""The stage contract: what a pipeline step is, what it needs, and what it reads and writes.

A stage is one of three modes:

- ``source``: makes rows from nothing (a corpus file, a dataset). ``read(context)`` yields
  ``pyarrow.Table`` batches of whole rows; the executor cuts them into shards of ``shard_size``.
- ``map``: shard-wise, row -> row. ``process(table)`` receives one shard with the columns named
  in ``requires`` (plus ``id``) and returns a table with exactly the columns in ``outputs``, one
  row per input row, in order. It may be ``async`` (``aprocess``) for I/O-bound work
  (browsers, HTTP judges). The executor adds ``id`` and writes the shard atomically.
- ``expand``: shard-wise, rows -> new rows (e.g. N generated candidates per instruction).
  ``process(table)`` returns whole rows including ``id``; its output becomes the new row set.
- ``global``: sees every row at once (dedup clustering, selection). ``run_global(shards)``
  receives a re-iterable ``ShardReader``: iterating it yields one table per shard with the
  ``requires`` columns plus ``id`` (so memory stays bounded: hash screenshots shard by shard), and
  ``shards.read_all()`` concatenates them when the stage needs everything at once. It returns a
  table with ``id`` plus ``outputs`` for every row, in any order; the executor splits it back into
  the run's shards.

Lifecycle: ``setup()`` once per worker before the first shard, ``teardown()`` once after the
last; heavy state (browsers, models) is created in ``setup`` and closed in ``teardown``.
A stage declares its needs in ``resources`` and the executor sizes its worker pool from them,
so a Ray executor can schedule the same stage on a cluster.

Stages are registered by name with ``@register``; a pipeline YAML refers to them by that name and
its keys are validated against the stage's pydantic ``Config``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import pyarrow as pa

from aesdata.config import StageConfig
from aesdata.resources import Resources
from aesdata.rundir import RunDir

__all__ = [
    "Mode",
    "Resources",
    "ShardReader",
    "Stage",
    "StageConfig",
    "StageContext",
    "register",
    "registered",
]


@dataclass
class StageContext:
    """What a stage may know about the run it is part of.

    ``spec_dir`` resolves relative paths of the pipeline file, ``run_dir`` is the run directory,
    ``stage_dir`` the stage's own folder (for side files such as caches), ``limit`` the build's
    ``--limit`` (sources honour it), ``settings`` the pipeline's top-level ``settings`` mapping.
    """

    spec_dir: Path
    run_dir: Path
    stage_dir: Path
    limit: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def rundir(self) -> RunDir:
        """The run directory, which knows where its cache, dataset and logs go."""
        return RunDir(self.run_dir)

    def cache_path(self) -> Path:
        """The request cache file of this run (``settings.request_cache`` shares one between runs)."""
        return self.rundir.cache_path(self.settings)


Mode = Literal["source", "map", "expand", "global"]


class ShardReader(Protocol):
    """Re-iterable view of a run's shards, restricted to the columns a global stage requires."""

    def __iter__(self) -> Iterator[pa.Table]: ...

    def __len__(self) -> int: ...

    def read_all(self) -> pa.Table: ...


class Stage:
    """Base class of every stage; subclasses set the class attributes and override one method."""

    name: ClassVar[str]
    summary: ClassVar[str]
    mode: ClassVar[Mode]
    Config: ClassVar[type[StageConfig]] = StageConfig
    resources: ClassVar[Resources] = Resources()
    requires: ClassVar[tuple[str, ...]] = ()
    #: columns read when an earlier step wrote them (not required)
    uses: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    #: bump when the stage's behaviour changes so that finished runs redo it
    version: ClassVar[str] = "1"
    #: build-time overrides this stage takes (``aesdata build --model X``): override name -> config key
    #: path. ``load_pipeline(path, overrides)`` writes them into the step's config, so they are validated,
    #: fingerprinted, recorded in the manifest and pickled to remote workers with the config.
    overrides: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, config: StageConfig, context: StageContext) -> None:
        self.config = config
        self.context = context

    # lifecycle -----------------------------------------------------------------
    def setup(self) -> None:
        """Create heavy state (browser, model, client). Called once per worker."""

    def teardown(self) -> None:
        """Release what ``setup`` created. Called once per worker, also after errors."""

    # work ----------------------------------------------------------------------
    def read(self) -> Iterator[pa.Table]:
        """``source`` stages: yield batches of whole rows."""
        raise NotImplementedError

    def process(self, table: pa.Table) -> pa.Table:
        """``map`` / ``expand`` stages: one shard in, its new columns (or rows) out."""
        raise NotImplementedError

    # async variants: a stage that overrides ``aprocess`` gets one event loop per worker, kept for
    # the worker's life, so async state made in ``asetup`` (a browser pool, an HTTP client) is reused
    async def asetup(self) -> None:
        """Async part of ``setup``, run on the worker's event loop after ``setup``."""

    async def ateardown(self) -> None:
        """Async part of ``teardown``, run on the worker's event loop before ``teardown``."""

    async def aprocess(self, table: pa.Table) -> pa.Table:
        """Async ``process``; override this instead of ``process`` for I/O-bound stages."""
        raise NotImplementedError

    @classmethod
    def is_async(cls) -> bool:
        """True when the stage overrides ``aprocess``."""
        return cls.aprocess is not Stage.aprocess

    def run_global(self, shards: ShardReader) -> pa.Table:
        """``global`` stages: every shard in (``requires`` + id), ``id`` + ``outputs`` for every row out."""
        raise NotImplementedError

    # reporting -----------------------------------------------------------------
    def failures(self, output: pa.Table) -> int:
        """Number of rows of ``output`` that failed in this stage (shown in the progress display)."""
        return 0

    def fingerprint_extra(self) -> dict[str, Any]:
        """Extra inputs that change this stage's output besides its config (e.g. an input file hash)."""
        return {}

    def versions(self) -> dict[str, str]:
        """Versions that change pixels or scores (browser, fonts, judge model, rubric), for the manifest."""
        return {}

    def summarize(self, run_dir: Path) -> dict[str, Any] | None:
        """Optional end-of-build summary stored in the manifest (e.g. the selection funnel)."""
        return None


_REGISTRY: dict[str, type[Stage]] = {}


def register(cls: type[Stage]) -> type[Stage]:
    """Class decorator: make ``cls`` available to pipeline files under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"stage name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, type[Stage]]:
    """Every stage registered so far, by name (``aesdata.stages.registry()`` adds the built-in ones first)."""
    return dict(_REGISTRY)
