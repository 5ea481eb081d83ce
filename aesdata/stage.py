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
- ``global``: sees every row at once (dedup clustering, selection, export). The executor calls
  ``run_tasks(job, tasks)`` in the driver: the stage plans its work as picklable ``(function, args)``
  tasks run through ``tasks`` (a ``Tasks`` runner: inline, a local process pool or Ray tasks, the same
  code path everywhere), reading shards with ``job.read(i)`` and writing each output shard with
  ``job.write(stage, i, table)`` from inside a task, so no step holds every row in the driver. The
  default ``run_tasks`` runs ``run_global(shards)`` in the driver and writes its output shard by shard:
  ``run_global`` receives a re-iterable ``ShardReader`` (one table per shard with the ``requires``
  columns plus ``id``; ``read_all()`` concatenates them) and returns ``id`` plus ``outputs`` for every
  row, in any order.

Lifecycle: ``setup()`` once per worker before the first shard, ``teardown()`` once after the
last; heavy state (browsers, models) is created in ``setup`` and closed in ``teardown``.
A stage declares its needs in ``resources`` and the executor sizes its worker pool from them,
so a Ray executor can schedule the same stage on a cluster.

Stages are registered by name with ``@register``; a pipeline YAML refers to them by that name and
its keys are validated against the stage's pydantic ``Config``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import pyarrow as pa

from aesdata.config import StageConfig
from aesdata.errors import AesdataError
from aesdata.lineage import Sources
from aesdata.resources import Resources
from aesdata.rundir import RunDir, conform

__all__ = [
    "GlobalJob",
    "InlineTasks",
    "Mode",
    "Resources",
    "ShardReader",
    "Stage",
    "StageConfig",
    "StageContext",
    "Tasks",
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


T = TypeVar("T")


class Tasks(Protocol):
    """Runs a global step's tasks: ``map(fn, calls)`` calls ``fn(*args)`` for each ``args`` of ``calls``
    (picklable, small) with ``cpus`` and ``memory_gb`` reserved per call, at most ``limit`` at once, and
    returns the (small) results in order. Implementations: ``InlineTasks`` (this process) and
    ``aesdata.executor.tasks`` (a local process pool, Ray tasks with retries)."""

    def map(
        self,
        fn: Callable[..., T],
        calls: Sequence[tuple[Any, ...]],
        *,
        name: str,
        cpus: float = 1.0,
        memory_gb: float = 1.0,
        limit: int | None = None,
    ) -> list[T]: ...


class InlineTasks:
    """``Tasks`` run one after the other in this process (no start-up; for small runs and tests)."""

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
        return [fn(*args) for args in calls]


@dataclass(frozen=True)
class GlobalJob:
    """What a global step's tasks need (picklable): where its input shards are and where its output goes.

    ``columns``: ``id`` + the step's input columns, read from the steps ``sources`` names; ``inputs``:
    the hash of every input shard, recorded in each output marker (resume redoes the step when one
    changes); ``work_dir``: the step's scratch folder for intermediate files (feature files, edges).
    """

    run_dir: Path
    step_id: str
    fingerprint: str
    columns: tuple[str, ...]
    sources: Sources
    n_shards: int
    inputs: dict[str, str]

    @property
    def work_dir(self) -> Path:
        return RunDir(self.run_dir).step(self.step_id).path / "work"

    def read(self, i: int, columns: Sequence[str] | None = None) -> pa.Table:
        """Input shard ``i``: ``id`` + ``columns`` (default: the step's input columns)."""
        return RunDir(self.run_dir).read_columns(i, tuple(columns or self.columns), self.sources)

    def write(self, stage: Stage, i: int, table: pa.Table, seconds: float = 0.0) -> dict[str, int]:
        """Write output shard ``i`` (``id`` + ``stage.outputs`` for every row of input shard ``i``, in any
        order) and its marker; return ``{"rows", "failures"}``."""
        rundir = RunDir(self.run_dir)
        out = conform(table, ["id", *stage.outputs])
        ids = rundir.read_columns(i, ("id",), self.sources).column("id").to_pylist()
        pos = {v: k for k, v in enumerate(out.column("id").to_pylist())}
        missing = [x for x in ids if x not in pos]
        if missing:
            raise AesdataError(
                f"Global step {self.step_id!r} returned no row for id {missing[0]} (and {len(missing) - 1} more)."
            )
        part = out.take(pa.array([pos[x] for x in ids], pa.int64()))
        failures = int(stage.failures(part))
        marker = {"fingerprint": self.fingerprint, "failures": failures, "seconds": round(seconds, 3)}
        rundir.step(self.step_id).write_shard(i, part, marker, self.inputs)
        return {"rows": part.num_rows, "failures": failures}


class _JobReader:
    """``ShardReader`` over a ``GlobalJob``'s input shards."""

    def __init__(self, job: GlobalJob) -> None:
        self.job = job

    def __iter__(self) -> Iterator[pa.Table]:
        return (self.job.read(i) for i in range(self.job.n_shards))

    def __len__(self) -> int:
        return self.job.n_shards

    def read_all(self) -> pa.Table:
        return pa.concat_tables(list(self))


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

    def run_tasks(self, job: GlobalJob, tasks: Tasks) -> None:
        """``global`` stages, called in the driver: write every output shard of ``job`` (``job.write``),
        planning the work as ``tasks``. Default: ``run_global`` here, then each shard written here."""
        t0 = time.perf_counter()
        out = self.run_global(_JobReader(job))
        seconds = time.perf_counter() - t0
        pos = {v: k for k, v in enumerate(out.column("id").to_pylist())}
        for i in range(job.n_shards):
            ids = job.read(i, ("id",)).column("id").to_pylist()
            part = out.take(pa.array([pos.get(x, 0) for x in ids], pa.int64())) if pos else out
            job.write(self, i, part, seconds if i == 0 else 0.0)

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
