"""Stages used only by the frame's tests: a slow deterministic map stage and a failing one.

They are real stages (registered, run by the real executor in worker processes); a pipeline
loads them with ``plugins: [tests.plugin_stages]``.
"""

from __future__ import annotations

import hashlib
import time

import pyarrow as pa
from pydantic import Field

from aesdata.stage import Resources, ShardReader, Stage, StageConfig, register


class SlowScoreConfig(StageConfig):
    delay_ms: float = Field(default=0.0, ge=0)
    salt: str = ""


@register
class SlowScore(Stage):
    """Writes ``static_score`` = a hash of code and salt mod 100, sleeping ``delay_ms`` per row."""

    name = "test_slow_score"
    summary = "test stage: deterministic score from the code, optionally slow"
    mode = "map"
    Config = SlowScoreConfig
    resources = Resources(cpus=1)
    requires = ("code",)
    outputs = ("static_score", "static_judge")
    config: SlowScoreConfig

    def process(self, table: pa.Table) -> pa.Table:
        scores = []
        for code in table.column("code").to_pylist():
            time.sleep(self.config.delay_ms / 1000)
            h = hashlib.sha256((self.config.salt + code).encode()).digest()
            scores.append(float(h[0] % 100))
        return pa.table({"static_score": scores, "static_judge": [f"test@{self.config.salt}"] * len(scores)})

    def failures(self, output: pa.Table) -> int:
        return sum(1 for s in output.column("static_score").to_pylist() if s < 10)


@register
class Boom(Stage):
    """Raises on the shard that holds a row whose code contains 'BOOM'."""

    name = "test_boom"
    summary = "test stage: raises on BOOM"
    mode = "map"
    requires = ("code",)
    outputs = ("exec_pass",)

    def process(self, table: pa.Table) -> pa.Table:
        if any("BOOM" in c for c in table.column("code").to_pylist()):
            raise RuntimeError("found BOOM in a row")
        return pa.table({"exec_pass": [True] * table.num_rows})


@register
class NeedsRender(Stage):
    """Requires a render column, to test the pipeline's column-flow check."""

    name = "test_needs_render"
    summary = "test stage: needs render_status"
    mode = "map"
    requires = ("render_status",)
    outputs = ("exec_pass",)


class GlobalBoomConfig(StageConfig):
    in_setup: bool = False


@register
class GlobalBoom(Stage):
    """A global step that raises in its pass over all rows (or in setup, with ``in_setup: true``)."""

    name = "test_global_boom"
    summary = "test stage: a global step that raises"
    mode = "global"
    Config = GlobalBoomConfig
    requires = ("code",)
    outputs = ("split",)
    config: GlobalBoomConfig

    def setup(self) -> None:
        if self.config.in_setup:
            raise RuntimeError("setup went wrong")

    def run_global(self, shards: ShardReader) -> pa.Table:
        raise RuntimeError("the pass over all rows went wrong")
