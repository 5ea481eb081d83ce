"""The pipeline stages of ``aesdata eval`` (a plugin module: ``plugins: [aesdata.eval.stages]``).

- ``eval_tasks`` (source): a benchmark's tasks as instruction rows (``aesdata.eval.benchmarks``).
- ``eval_code`` (map): the script or page the benchmark's own harness would run from the model's reply
  (PandasPlotBench: its code gathering plus the task's data-loading code; ArtifactsBench: the last HTML or
  SVG block); other benchmarks keep aesdata's extraction.
- ``eval_judge`` (map, async): the benchmark's official per-task scores, with its own judge prompts sent to
  a VLM (any OpenAI-compatible endpoint, or vLLM in-process) and parsed the way its code parses them.
  Without a VLM it records what needs none (PandasPlotBench's errors, missing plots, wrong library) and
  marks the rest as not judged. Writes ``eval_benchmark``, ``eval_task_id``, ``eval_category`` and
  ``eval_scores_json``.

Between them the ordinary ``generate``, ``render`` and ``judge`` stages run, so every eval row also has
aesdata's offline execution, design and interactivity scores.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from aesdata.cache import RequestCache
from aesdata.eval import metrics
from aesdata.eval.benchmarks import data_file, get_benchmark, plotbench_instructs, webgen_prompt
from aesdata.llm import LLMConfig, make_backend
from aesdata.schema import COLUMN_GROUPS, sub_schema
from aesdata.stage import Resources, Stage, StageConfig, register

EVAL_COLUMNS = tuple(COLUMN_GROUPS["eval"])
_IDENTITY = tuple(COLUMN_GROUPS["identity"])
#: render statuses of a script that raised (PandasPlotBench counts these as errors)
PLOT_ERRORS = ("exec_error", "timeout", "killed", "crash", "error")


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    return (json.loads(row.get("meta_json") or "{}") or {}).get("eval") or {}


def _png(image: Any) -> bytes | None:
    return image.get("bytes") if isinstance(image, dict) else image


class EvalTasksConfig(StageConfig):
    benchmark: str = Field(description="pandasplotbench | opendesign | webgen_bench | artifactsbench")
    path: str | None = Field(
        default=None,
        description="local copy of the benchmark (file or folder); relative to the pipeline file",
    )


@register
class EvalTasks(Stage):
    name = "eval_tasks"
    summary = (
        "A benchmark's tasks as instruction rows (PandasPlotBench, OpenDesign, WebGen-Bench, ArtifactsBench)."
    )
    mode = "source"
    Config = EvalTasksConfig
    outputs = _IDENTITY
    config: EvalTasksConfig

    def __init__(self, config: EvalTasksConfig, context: Any) -> None:
        super().__init__(config, context)
        self._tasks: list[dict[str, Any]] | None = None

    def _path(self) -> Path | None:
        return (self.context.spec_dir / self.config.path).resolve() if self.config.path else None

    def _rows(self) -> list[dict[str, Any]]:
        """The benchmark's task rows, loaded once (the fingerprint and ``read`` both need them)."""
        if self._tasks is None:
            self._tasks = get_benchmark(self.config.benchmark).load(self._path(), self.context.limit)
        return self._tasks

    def fingerprint_extra(self) -> dict[str, Any]:
        """The tasks' content: an edited or re-downloaded benchmark redoes the run."""
        h = hashlib.sha256(json.dumps(self._rows(), sort_keys=True).encode()).hexdigest()[:16]
        return {"tasks": h}

    def read(self) -> Iterator[pa.Table]:
        rows = self._rows()
        if rows:
            yield pa.Table.from_pylist(rows, schema=sub_schema(list(_IDENTITY)))


class EvalCodeConfig(StageConfig):
    benchmark: str = Field(description="the benchmark whose code extraction to apply")


@register
class EvalCode(Stage):
    name = "eval_code"
    summary = "Extract the code a benchmark's own harness would run from each reply."
    mode = "map"
    Config = EvalCodeConfig
    requires = ("kind", "response", "code", "meta_json")
    outputs = ("code",)
    config: EvalCodeConfig

    def process(self, table: pa.Table) -> pa.Table:
        bench = get_benchmark(self.config.benchmark).name
        out = []
        for row in table.to_pylist():
            response = row.get("response")
            code = row.get("code")
            if response is not None and bench == "pandasplotbench":
                code = _meta(row).get("code_data", "") + "\n" + metrics.plotbench_gather_code(response)
            elif response is not None and bench == "artifactsbench":
                code = metrics.artifacts_extract_code(response)
            out.append({"code": code})
        return pa.Table.from_pylist(out, schema=sub_schema(["code"]))


class EvalVLMConfig(LLMConfig):
    """The judge model of the benchmark's own rubric: an LLM backend (the same config as generation's)
    with the judge's defaults and its answer length."""

    model: str = Field(description="vision model name (openai) or folder / Hub id (vllm)")
    backend: Literal["openai", "vllm"] = "openai"
    concurrency: int = Field(default=8, ge=1)
    max_retries: int = Field(default=3, ge=0)
    max_tokens: int = Field(default=2048, ge=16)


class EvalJudgeConfig(StageConfig):
    benchmark: str = Field(description="the benchmark whose judge to run")
    path: str | None = Field(
        default=None, description="the benchmark's local copy (WebGen-Bench: its prompt)"
    )
    vlm: EvalVLMConfig | None = Field(default=None, description="judge model; null: no official VLM scores")


@register
class EvalJudge(Stage):
    name = "eval_judge"
    summary = "Score each reply with the benchmark's own judge prompts and parsing (VLM when configured)."
    mode = "map"
    Config = EvalJudgeConfig
    resources = Resources(cpus=0.5, memory_gb=0.5, max_workers=1)
    requires = ("kind", "code", "response", "instruction", "meta_json", "render_status", "screenshot")
    uses = ("screenshot_viewport", "plot_figures")
    outputs = EVAL_COLUMNS
    config: EvalJudgeConfig

    def __init__(self, config: EvalJudgeConfig, context: Any) -> None:
        super().__init__(config, context)
        self.backend: Any = None
        self.cache: RequestCache | None = None

    def versions(self) -> dict[str, str]:
        v = self.config.vlm
        return {"eval_judge_model": v.model} if v is not None else {}

    async def asetup(self) -> None:
        if self.config.vlm is not None:
            v = self.config.vlm
            self.cache = RequestCache(self.context.cache_path())
            self.backend = make_backend(v, self.cache)
            self.backend.load()

    async def ateardown(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()
            self.backend.close()
            self.backend = None
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    async def _ask(
        self, system: str, text: str, images: list[bytes], temperature: float
    ) -> tuple[str | None, str | None]:
        """One judge request: (reply text, error)."""
        from aesdata.judges.vlm import data_url
        from aesdata.llm.base import GenRequest

        assert self.backend is not None and self.config.vlm is not None
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        content += [{"type": "image_url", "image_url": {"url": data_url(im)}} for im in images]
        req = GenRequest(
            [{"role": "system", "content": system}, {"role": "user", "content": content}],
            {"temperature": temperature, "max_tokens": self.config.vlm.max_tokens},
            {"judge": "eval"},
        )
        (res,) = await self.backend.generate([req])
        return (res.text, None) if res.ok else (None, res.error)

    async def aprocess(self, table: pa.Table) -> pa.Table:
        if self.backend is None and self.config.vlm is not None:
            await self.asetup()
        bench = get_benchmark(self.config.benchmark).name
        judge = {
            "pandasplotbench": self._plotbench,
            "opendesign": self._opendesign,
            "webgen_bench": self._webgen,
            "artifactsbench": self._artifacts,
        }[bench]
        rows = table.to_pylist()
        scores = await asyncio.gather(*(judge(r) for r in rows))
        out = []
        for row, sc in zip(rows, scores, strict=True):
            meta = _meta(row)
            sc["judge_model"] = self.config.vlm.model if self.config.vlm else None
            out.append(
                {
                    "eval_benchmark": bench,
                    "eval_task_id": meta.get("task_id"),
                    "eval_category": meta.get("category"),
                    "eval_scores_json": json.dumps(sc, ensure_ascii=False),
                }
            )
        return pa.Table.from_pylist(out, schema=sub_schema(list(EVAL_COLUMNS)))

    # -- per benchmark -----------------------------------------------------------------------------
    async def _plotbench(self, row: dict[str, Any]) -> dict[str, Any]:
        """``VisJudge.score_by_type`` (``plotting_benchmark/vis_judge.py``): no plot or a script without the
        plotting library scores 0 without asking; else the judge sees [generated, ground truth] for ``vis``
        and [generated] with the task text for ``task``; replies are parsed for ``[FINAL SCORE]``. (The
        released loop re-assigns the task prompt inside its loop, so from the second task on the prompt also
        carries earlier tasks' text; aesdata sends each task its own prompt.)"""
        meta = _meta(row)
        status = row.get("render_status")
        gathered = metrics.plotbench_gather_code(row.get("response") or "")
        shot = _png(row.get("screenshot"))
        has_plot = status in ("ok", "js_error") and shot is not None and (row.get("plot_figures") or 1) > 0
        out: dict[str, Any] = {
            "prompts": "pandasplotbench/instructs.json@c053e8c",
            "error": status in PLOT_ERRORS,
            "has_plot": has_plot,
            "wrong_lib": "matplotlib" not in gathered,
            "vis": None,
            "task": None,
        }
        if not has_plot or out["wrong_lib"]:
            out["vis"] = out["task"] = 0
            return out
        if self.backend is None:
            out["not_judged"] = "no VLM judge configured (--judge-model)"
            return out
        ins = plotbench_instructs()
        gt = [base64.b64decode(p) for p in meta.get("plots_gt") or []][:1]
        task_text = "\n".join([ins["judge_instruct_task"], "[PLOT TASK]:", *meta.get("task_text", [])])
        (vis_reply, vis_err), (task_reply, task_err) = await asyncio.gather(
            self._ask(ins["system_prompt"], ins["judge_instruct_vis"], [shot, *gt], 0.0),
            self._ask(ins["system_prompt"], task_text, [shot], 0.0),
        )
        out["vis"] = metrics.plotbench_parse_score(vis_reply) if vis_reply is not None else None
        out["task"] = metrics.plotbench_parse_score(task_reply) if task_reply is not None else None
        out["replies"] = {"vis": vis_reply or vis_err, "task": task_reply or task_err}
        return out

    async def _opendesign(self, row: dict[str, Any]) -> dict[str, Any]:
        """OpenDesign's rubric (alignment 40 + aesthetics 30 + structure 30) on the full-page screenshot,
        through aesdata's VLM judge with the ``opendesign`` rubric."""
        from aesdata.judges.rubrics import OPENDESIGN
        from aesdata.judges.vlm import VLMJudge

        out: dict[str, Any] = {"rubric": OPENDESIGN.id, "total": None, "subscores": None}
        shot = _png(row.get("screenshot"))
        if row.get("render_status") not in ("ok", "js_error") or shot is None:
            out["failed_render"] = row.get("render_status")
            return out
        if self.backend is None:
            out["not_judged"] = "no VLM judge configured (--judge-model)"
            return out
        (v,) = await VLMJudge(self.backend, OPENDESIGN, cache=self.cache).grade(
            [(row["instruction"], [shot])]
        )
        out.update({"total": v.score, "subscores": v.subscores or None, "reply": v.feedback or v.error})
        return out

    async def _webgen(self, row: dict[str, Any]) -> dict[str, Any]:
        """WebGen-Bench appearance (``src/grade_appearance_bolt_diy``): the first viewport (1024x768) and the
        checkout's ``appearance_prompt``, system "You are a helpful assistant.", the first digit after
        "Grade". The UI-test accuracy needs the benchmark's GUI agent and is not run here."""
        meta = _meta(row)
        prompt = webgen_prompt(self._path())
        out: dict[str, Any] = {
            "prompt": "WebGen-Bench src/grade_appearance_bolt_diy/prompt.py" if prompt else None,
            "grade": None,
            "ui_cases": len(meta.get("ui_cases") or []),
            "ui_accuracy": None,
        }
        shot = _png(row.get("screenshot_viewport")) or _png(row.get("screenshot"))
        if row.get("render_status") not in ("ok", "js_error") or shot is None:
            out["grade"] = 0  # compute_grade.py: an app without a result adds 0
            out["failed_render"] = row.get("render_status")
            return out
        if self.backend is None or prompt is None:
            out["not_judged"] = (
                "no VLM judge configured (--judge-model)"
                if self.backend is None
                else "the WebGen-Bench checkout's appearance prompt was not found (give the folder with --data)"
            )
            return out
        reply, err = await self._ask(
            "You are a helpful assistant.", prompt.format(instruction=row["instruction"]), [shot], 0.0
        )
        out["grade"] = metrics.webgen_parse_grade(reply) if reply is not None else None
        out["reply"] = reply or err
        return out

    async def _artifacts(self, row: dict[str, Any]) -> dict[str, Any]:
        """ArtifactsBench's checklist judge (``src/infer_qvl.py`` + ``src/prompts/prompt_mllm_check.py``,
        shipped in ``data/artifactsbench/prompt.json``): the prompt holds the checklist, the question and the
        whole answer; the full-page screenshot is attached; ``"Overall Score"`` is parsed."""
        meta = _meta(row)
        out: dict[str, Any] = {"prompt": "artifactsbench/prompt.json@fcf0368", "score": None}
        shot = _png(row.get("screenshot"))
        if self.backend is None:
            out["not_judged"] = "no VLM judge configured (--judge-model)"
            return out
        spec = json.loads(data_file("artifactsbench", "prompt.json"))
        text = Template(spec["user_template"]).substitute(
            Checklist=meta.get("checklist") or "",
            Question=row["instruction"],
            Answer=row.get("response") or "",
        )
        images = [shot] if shot is not None and row.get("render_status") in ("ok", "js_error") else []
        reply, err = await self._ask(spec["system"], text, images, float(spec["temperature"]))
        out["score"] = metrics.artifacts_parse_score(reply) if reply is not None else None
        out["reply"] = reply or err
        return out

    def _path(self) -> Path | None:
        return (self.context.spec_dir / self.config.path).resolve() if self.config.path else None
