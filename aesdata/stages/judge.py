"""``judge``: score every rendered candidate with the execution, design, interactive and (optional) VLM judges.

Map stage, async. Input: ``kind``, ``code``, ``instruction`` and the render columns. Output: the judge
columns (``exec_*``, ``static_*``, ``rubric_version``, ``vlm_*``, ``interactive_*``, ``reward``,
``reward_json``). Config switches (see ``aesdata.judges.runner.JudgeConfig``)::

    - judge:
        design: true                 # built-in design judge (static_*)
        interactive: {max_actions: 5, max_scored: 3}   # null = off
        vlm: {base_url: http://127.0.0.1:8000/v1, model: Qwen/Qwen2.5-VL-7B-Instruct, rubric: opendesign}
        reward: {formula: grpo_ar, w_exec: 0.1, w_static: 0.8, w_interactive: 0.1}

HTML pages are opened again in a warm browser pool (set ``render:`` to the render step's viewport) for the
in-page checks and the interactive agent; VLM verdicts go through the run's request cache.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import Field

from aesdata.cache import RequestCache, default_cache_path
from aesdata.judges.runner import JUDGE_COLUMNS, JudgeConfig, Judges
from aesdata.render.browser_pool import RenderConfig
from aesdata.schema import sub_schema
from aesdata.stage import Resources, Stage, register


class JudgeStageConfig(JudgeConfig):
    render: RenderConfig = Field(
        default_factory=RenderConfig,
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
    )
    outputs = JUDGE_COLUMNS
    version = "4"  # 4: pages reopened on the page clock, judged at the screenshot's page time
    config: JudgeStageConfig

    def __init__(self, config: JudgeStageConfig, context: Any) -> None:
        super().__init__(config, context)
        self.judges: Judges | None = None
        self.cache: RequestCache | None = None

    def _judge_config(self) -> JudgeConfig:
        return JudgeConfig(**self.config.model_dump(exclude={"render"}))

    async def asetup(self) -> None:
        if self.config.vlm is not None:
            self.cache = RequestCache(default_cache_path(self.context.run_dir, self.context.settings))
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
