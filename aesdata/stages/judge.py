"""``judge``: score every rendered candidate with the execution, design, interactive and (optional) VLM judges.

Map stage, async. Input: ``kind``, ``code``, ``instruction`` and the render columns. Output: the judge
columns (``exec_*``, ``static_*``, ``rubric_version``, ``vlm_*``, ``interactive_*``, ``reward``,
``reward_json``). Config switches (see ``aesdata.judges.runner.JudgeConfig``)::

    - judge:
        design: true                 # built-in design judge (static_*)
        interactive: {max_actions: 5, max_scored: 3}   # null = off
        vlm: {base_url: http://127.0.0.1:8000/v1, model: Qwen/Qwen2.5-VL-7B-Instruct, rubric: opendesign}
        reward: {formula: grpo_ar, w_exec: 0.1, w_static: 0.8, w_interactive: 0.1}

The in-page checks and the interactive agent's episode were captured by the render step in the same visit
(its ``capture:`` key); this step computes verdicts from those columns and starts no browser, so rescoring
with other weights or thresholds touches no page. Only rows without captures and the VLM-driven interactive
agent reopen pages (set ``render:`` to the render step's viewport). VLM and design verdicts go through the
run's request cache, keyed by their inputs and the judge's code: a rejudge with other reward weights only
recombines them.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import Field

from aesdata.cache import RequestCache
from aesdata.judges.capture import CAPTURE_COLUMNS
from aesdata.judges.runner import JUDGE_COLUMNS, JudgeConfig, Judges
from aesdata.render.settings import BrowserSettings
from aesdata.schema import sub_schema
from aesdata.stage import Resources, Stage, register


class JudgeStageConfig(JudgeConfig):
    render: BrowserSettings = Field(
        default_factory=BrowserSettings,
        description="browser settings for reopening pages; use the render step's viewport",
    )


@register
class Judge(Stage):
    name = "judge"
    summary = (
        "Score rendered candidates: execution, design, interactive and (optional) VLM judges, and the reward."
    )
    mode = "map"
    Config = JudgeStageConfig
    resources = Resources(cpus=1.0, browser_slots=2, memory_gb=1.5, max_workers=2)
    requires = (
        "kind",
        "code",
        "instruction",
        "render_status",
        "render_error",
        "console_errors_json",
        "screenshot",
        "layout_json",
        "render_meta_json",
        "plot_figures",
        *CAPTURE_COLUMNS,
    )
    uses = ("render_fidelity", "render_assets")  # read when an earlier step wrote them (the render step)
    outputs = JUDGE_COLUMNS
    # 4: verdicts from the render step's captures (one visit per page); render fidelity lowers scores;
    #    pages reopened (rows without captures, the VLM agent) on the page clock at the screenshot's page time
    version = "4"
    config: JudgeStageConfig

    def __init__(self, config: JudgeStageConfig, context: Any) -> None:
        super().__init__(config, context)
        self.judges: Judges | None = None
        self.cache: RequestCache | None = None

    def _judge_config(self) -> JudgeConfig:
        return JudgeConfig(**self.config.model_dump(exclude={"render"}))

    async def asetup(self) -> None:
        if self.config.vlm is not None or self.config.design:
            self.cache = RequestCache(self.context.cache_path())
        self.judges = Judges(self._judge_config(), render_config=self.config.render, cache=self.cache)
        await self.judges.start()

    async def ateardown(self) -> None:
        if self.judges is not None:
            await self.judges.close()
            self.judges = None

    def teardown(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    async def aprocess(self, table: pa.Table) -> pa.Table:
        if self.judges is None:
            await self.asetup()
        assert self.judges is not None
        outs = await self.judges.judge_rendered(table.to_pylist())
        rows = [{c: out.get(c) for c in JUDGE_COLUMNS} for out in outs]
        return pa.Table.from_pylist(rows, schema=sub_schema(list(JUDGE_COLUMNS)))

    def failures(self, output: pa.Table) -> int:
        """Candidates that failed the execution judge."""
        return sum(1 for p in output.column("exec_pass").to_pylist() if not p)

    def versions(self) -> dict[str, str]:
        return Judges(self._judge_config()).versions()
