"""The worker side of a shard-wise step: one stage instance, set up once, running shard after shard.

``ShardJob`` is everything a worker needs (picklable: stage class, config, context, fingerprint, the
input columns and where each is read from), so the same ``ShardRunner`` serves the parent process,
a spawned local worker and a Ray actor. It reads a shard's input columns from the run directory,
calls the stage (sync, or on one event loop kept for the worker's life), checks and conforms the
output, and writes the shard and its marker atomically.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from aesdata.errors import AesdataError
from aesdata.lineage import Sources
from aesdata.resources import reserve_cpus
from aesdata.rundir import RunDir, conform
from aesdata.stage import Stage, StageConfig, StageContext


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to run shards of one step (picklable, for process pools and Ray)."""

    stage: type[Stage]
    config: StageConfig
    context: StageContext
    run_dir: Path
    step_id: str
    fingerprint: str
    columns: tuple[str, ...]
    sources: Sources
    #: CPUs reserved for the worker (a Ray actor's reservation); None: the machine. The stage sees it as
    #: ``resources.machine_cpus()``, so what it sizes from the CPU count fits the reservation
    cpus: float | None = None


class ShardRunner:
    """Runs shards of one step with one stage instance; use as a context manager (setup / teardown)."""

    def __init__(self, job: ShardJob) -> None:
        self.job = job
        self.stage = job.stage(job.config, job.context)
        self.loop = asyncio.new_event_loop() if job.stage.is_async() else None
        self.rundir = RunDir(job.run_dir)
        self.out = self.rundir.step(job.step_id)

    def __enter__(self) -> ShardRunner:
        self._cpus_before = reserve_cpus(self.job.cpus)
        self.stage.setup()
        if self.loop:
            self.loop.run_until_complete(self.stage.asetup())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.loop:
                self.loop.run_until_complete(self.stage.ateardown())
                self.loop.close()
        finally:
            try:
                self.stage.teardown()
            finally:
                reserve_cpus(self._cpus_before)

    def run(self, i: int) -> dict[str, Any]:
        """Run shard ``i``: read, process, write; return ``{"rows", "failures"}``."""
        t0 = time.perf_counter()
        table = self.rundir.read_columns(i, self.job.columns, self.job.sources)
        if self.loop:
            result = self.loop.run_until_complete(self.stage.aprocess(table))
        else:
            result = self.stage.process(table)
        result = finish_output(self.stage, table, result)
        failures = int(self.stage.failures(result))
        marker = {
            "fingerprint": self.job.fingerprint,
            "failures": failures,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        self.out.write_shard(
            i, result, marker, self.rundir.input_hashes(i, self.job.columns, self.job.sources)
        )
        return {"rows": result.num_rows, "failures": failures}


def finish_output(stage: Stage, table: pa.Table, result: pa.Table) -> pa.Table:
    """Check a shard-wise stage's output and conform it to the schema (map: id + outputs in input order)."""
    if stage.mode == "expand":
        if "id" not in result.column_names:
            raise AesdataError(f"Stage {stage.name!r} returned rows without an 'id' column.")
        return conform(result, ["id", *[c for c in stage.outputs if c != "id"]])
    if result.num_rows != table.num_rows:
        raise AesdataError(
            f"Stage {stage.name!r} returned {result.num_rows} rows for a shard of {table.num_rows}."
        )
    result = conform(result, list(stage.outputs))
    return result.add_column(0, "id", table.column("id"))


def error_line(e: BaseException) -> str:
    """One line for a failure: an ``AesdataError``'s own text, else ``Type: first line of the message``."""
    if isinstance(e, AesdataError):
        return str(e)
    first = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {first}" if first else type(e).__name__
