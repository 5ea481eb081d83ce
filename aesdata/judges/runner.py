"""Run every configured judge over rows: the one code path behind the judge stage, the rewards and ``aesdata score``.

``Judges(config)`` owns (or borrows) a ``BrowserPool``, the VLM judge and the request cache. HTMLHint runs
in the sample's own page (as a module-scoped function, no globals), else in a blank pool page. Two entry points:

- ``judge_rendered(rows)``: rows that already hold the render columns (the ``judge`` stage). The live
  checks (HTMLHint, probe, axe-core contrast, the interactive agent) were captured by the render step in
  the same visit (``aesdata.judges.capture``): verdicts are computed from those columns and no browser
  starts. Only rows without captures (a render step with captures off, an older run) and the VLM-driven
  interactive agent open the page again.
- ``render_and_judge(items)``: ``{kind, code, instruction}`` items rendered here, captured on the same
  live page and judged from the captures (rewards, ``aesdata score``), so a completion is loaded once.

Both return, per row, the judge columns of the schema (``exec_*``, ``static_*``, ``rubric_version``,
``vlm_*``, ``interactive_*``, ``reward``, ``reward_json``) plus underscored helper keys the caller drops.
A judge that fails on one row records the failure in that row's findings; it never stops the batch.
With a request cache, VLM and design verdicts (the costly ones: the design judge's pixel measures and
appeal features take ~0.2 s per screenshot) are stored by the hash of their inputs, so rejudging a run
with other reward weights or thresholds only recombines them.
Every page gets its verdict within a bound, whatever it does after load: the render's guards (see
``aesdata.render.html``), and ``CaptureConfig.timeout_s`` of wall time for the in-page checks and the
interactive episode, which run in page time on the pool's page clock from the same page time as the screenshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from aesdata.cache import cache_key, canonical_json, hash_bytes
from aesdata.config import StageConfig
from aesdata.judges import appeal, design, execution, inpage, interactive
from aesdata.judges.capture import (
    CaptureConfig,
    InteractiveJudgeConfig,
    capture_lint,
    capture_live,
    has_captures,
    live_from_row,
)
from aesdata.judges.reward import RewardConfig, combine
from aesdata.judges.rubrics import get_rubric
from aesdata.llm import LLMConfig, make_backend
from aesdata.resources import machine_cpus
from aesdata.schema import COLUMN_GROUPS

JUDGE_COLUMNS: tuple[str, ...] = tuple(COLUMN_GROUPS["judges"])  # what the judge stage writes


class VLMJudgeConfig(LLMConfig):
    """The VLM judge: the LLM config of its model (an OpenAI-compatible endpoint or vLLM in-process, with
    the same keys and retries as any LLM step) plus the rubrics it grades by and how it is asked."""

    model: str = Field(..., description="vision model name")
    backend: Literal["openai", "vllm"] = Field(
        "openai", description="openai: any OpenAI-compatible server; vllm: in-process"
    )
    concurrency: int = Field(8, ge=1, description="requests in flight")
    timeout_s: float = Field(120.0, gt=0, description="seconds per attempt")
    max_retries: int = Field(3, ge=0, description="retries after timeouts, 429/5xx, garbage replies")
    rubric: str = Field("opendesign", description="rubric for HTML pages: opendesign | webgen")
    plot_rubric: str = Field("plotbench", description="rubric for plots")
    structured: Literal["json_schema", "guided_json", "none"] = Field(
        "json_schema", description="how to constrain the answer"
    )
    parse_retries: int = Field(2, ge=0, description="re-asks after an unreadable answer")
    max_tokens: int = Field(512, ge=16)
    interactive_agent: bool = Field(
        False, description="also drive the interactive judge with this model (Set-of-Mark)"
    )


class JudgeConfig(StageConfig):
    """Which judges run. ``vlm: null`` and ``interactive: null`` switch those off."""

    design: bool = Field(True, description="built-in static design judge")
    lint: bool = Field(True, description="HTMLHint in the execution judge")
    axe: bool = Field(
        True, description="axe-core color-contrast in the design judge (else contrast from the layout)"
    )
    vlm: VLMJudgeConfig | None = Field(None, description="VLM judge; null = off")
    interactive: InteractiveJudgeConfig | None = Field(
        default_factory=InteractiveJudgeConfig, description="interactive agent; null = off"
    )
    reward: RewardConfig = Field(default_factory=RewardConfig)
    fatal_rules: list[str] = Field(
        default_factory=lambda: list(execution.FATAL_RULES), description="HTMLHint rules that fail a page"
    )
    advisory_rules: list[str] = Field(
        default_factory=lambda: list(execution.ADVISORY_RULES), description="HTMLHint rules reported only"
    )


def _png(image: Any) -> bytes | None:
    if isinstance(image, dict):
        return image.get("bytes")
    return image if isinstance(image, (bytes, bytearray)) else None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Judges:
    """Judge rows with the configured judges (see module docstring).

    ``pool``: a started ``BrowserPool`` to borrow (else one is made from ``render_config`` and owned);
    ``cache``: the shared ``RequestCache`` for VLM and design verdicts (None = no cache).
    """

    def __init__(
        self,
        config: JudgeConfig | None = None,
        *,
        pool: Any = None,
        render_config: Any = None,
        cache: Any = None,
    ) -> None:
        self.config = config or JudgeConfig()
        self.pool = pool
        self.render_config = render_config
        self.cache = cache
        self.vlm: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._plots: Any = None
        self._plots_lock = asyncio.Lock()
        self._pool_lock = asyncio.Lock()
        self._started = False
        self._threads: ThreadPoolExecutor | None = None
        self._timings_lock = threading.Lock()
        self.timings: dict[str, float] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the VLM client; the browser pool starts on first use (:meth:`browser_pool`)."""
        self._started = True
        if self.config.vlm is not None:
            self.vlm = self._make_vlm()

    async def browser_pool(self) -> Any:
        """The borrowed pool, or an owned one started now (judging from captures never needs one)."""
        from aesdata.render.assets import AssetStore
        from aesdata.render.browser_pool import BrowserPool

        async with self._pool_lock:
            if self.pool is None:  # the asset store answers CDN files as in a build's render step
                self.pool = BrowserPool(self.render_config, store=AssetStore())
                await self._stack.enter_async_context(self.pool)
        return self.pool

    def _make_vlm(self) -> Any:
        from aesdata.judges.vlm import VLMJudge

        v = self.config.vlm
        assert v is not None
        backend = make_backend(v)
        params = {"max_tokens": v.max_tokens}
        return {
            kind: VLMJudge(
                backend,
                get_rubric(name),
                cache=self.cache,
                params=params,
                structured=v.structured,
                parse_retries=v.parse_retries,
            )
            for kind, name in (("html", v.rubric), ("plot", v.plot_rubric))
        }

    async def close(self) -> None:
        """Release the pool (when owned), plot workers and the VLM client."""
        await self._stack.aclose()
        if self._threads is not None:
            self._threads.shutdown()
            self._threads = None
        if self._plots is not None:
            with contextlib.suppress(Exception):
                await _maybe_await(self._plots.close())
            self._plots = None
        if self.vlm is not None:
            await self.vlm["html"].backend.aclose()
            self.vlm = None

    async def __aenter__(self) -> Judges:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def versions(self) -> dict[str, str]:
        """Versions that change scores: design judge, in-page assets, rubrics, VLM model."""
        out = {
            "design_judge": design.JUDGE_ID,
            "appeal_model": appeal.load_model().get("version", "unversioned"),
            **{f"judge_asset:{k}": v for k, v in inpage.asset_versions().items()},
        }
        if self.config.vlm is not None:
            out.update(
                {
                    "vlm_model": self.config.vlm.model,
                    "vlm_rubric": get_rubric(self.config.vlm.rubric).id,
                    "vlm_plot_rubric": get_rubric(self.config.vlm.plot_rubric).id,
                }
            )
        return out

    def _tick(self, name: str, t0: float) -> None:
        with self._timings_lock:  # verdicts are computed on several threads
            self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000

    async def _verdict_async(self, row: dict[str, Any]) -> dict[str, Any]:
        """:meth:`_verdict` of ``row`` (reopened results popped from ``_reopened``) on one of a thread per
        CPU this worker has: the design judge's pixel measures are numpy and PIL work outside the GIL, so
        the cores share a batch of captured rows."""
        if self._threads is None:
            self._threads = ThreadPoolExecutor(machine_cpus(), thread_name_prefix="aesdata-verdict")
        inputs = self._judge_inputs(row, row.pop("_reopened", None))
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._verdict, row, *inputs)

    # -- pieces -----------------------------------------------------------------------------------
    def capture_config(self) -> CaptureConfig:
        """What to capture on a live page for this judge config (the reward path and ``aesdata score``)."""
        c = self.config
        return CaptureConfig(
            lint=c.lint,
            lint_rules=[*c.fatal_rules, *c.advisory_rules],
            axe=c.axe,
            interactive=None if self._vlm_agent() else c.interactive,
        )

    def _vlm_agent(self) -> bool:
        c = self.config
        return c.interactive is not None and c.vlm is not None and c.vlm.interactive_agent

    async def _explore_vlm(self, session: Any, instruction: str) -> dict[str, Any]:
        """The VLM-driven interactive agent on a live page: ``{"interactive": result}`` or ``{"errors": [...]}``."""
        ic = self.config.interactive
        assert ic is not None and self.vlm is not None
        t0 = time.perf_counter()
        try:
            result = await interactive.explore_vlm(
                session.page,
                self.vlm["html"].backend,
                instruction,
                max_actions=ic.max_actions,
                max_scored=ic.max_scored,
                settle_ms=ic.settle_ms,
                timeout_ms=ic.timeout_ms,
            )
            return {"interactive": result}
        except Exception as e:  # noqa: BLE001
            return {"errors": [f"interactive agent failed: {_first_line(e)}"]}
        finally:
            self._tick("interactive", t0)

    def _judge_inputs(
        self, row: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]] | None, dict[str, Any]]:
        """The verdict's inputs from a row's captures, filtered to what this judge config uses; ``extra``
        (a reopened page's VLM-agent episode) overrides the captured agent."""
        c = self.config
        lint, live = live_from_row(row, (*c.fatal_rules, *c.advisory_rules))
        if not c.lint:
            lint = None
        if not c.axe:
            live.pop("axe", None)
        if c.interactive is None:
            live.pop("interactive", None)
        if extra:
            live["errors"] += extra.get("errors", [])
            if "interactive" in extra:
                live["interactive"] = extra["interactive"]
        return lint, live

    def _verdict(
        self, row: dict[str, Any], lint: list[dict[str, Any]] | None, live: dict[str, Any]
    ) -> dict[str, Any]:
        """Execution, design and interactive columns of one rendered row (VLM and reward come later)."""
        kind = row.get("kind") or "html"
        out: dict[str, Any] = {c: None for c in JUDGE_COLUMNS}
        shot = _png(row.get("screenshot"))
        t0 = time.perf_counter()
        if kind == "plot":
            figure = json.loads(row["layout_json"]) if row.get("layout_json") else None
            ex = execution.judge_plot(
                row.get("render_status"), row.get("render_error"), row.get("plot_figures"), figure
            )
        else:
            ex = execution.judge_html(
                row.get("render_status"),
                row.get("render_error"),
                row.get("console_errors_json"),
                shot,
                lint,
                tuple(self.config.fatal_rules),
            )
        ex.findings += [{"check": "judge", "severity": "info", "message": m} for m in live.get("errors", [])]
        out.update(
            {"exec_pass": ex.passed, "exec_score": ex.score, "exec_findings_json": _dumps(ex.findings)}
        )
        self._tick("execution", t0)
        has_page = row.get("render_status") in ("ok", "js_error") and shot is not None
        if self.config.design and has_page:
            t1 = time.perf_counter()
            out.update(self._design(row, kind, shot, live))
            self._tick("design", t1)
        inter = live.get("interactive")
        if inter is not None:
            out.update(
                {
                    "interactive_score": inter.score,
                    "interactive_max": inter.max_scored,
                    "interactive_trace_json": _dumps(inter.trace),
                }
            )
        elif (
            kind == "html"
            and self.config.interactive is not None
            and row.get("render_status") in ("ok", "js_error")
        ):
            out.update(
                {
                    "interactive_score": 0.0,
                    "interactive_max": self.config.interactive.max_scored,
                    "interactive_trace_json": _dumps([]),
                }
            )
        return out

    def _design(self, row: dict[str, Any], kind: str, shot: bytes, live: dict[str, Any]) -> dict[str, Any]:
        """The design judge's columns (``static_*``, ``rubric_version``) of a rendered row. With a request
        cache, a verdict is looked up by the hash of its inputs and the design judge's code
        (:func:`design_key`) and computed only when missing: a rejudge with other reward weights or
        thresholds recomputes no design verdict."""
        vp = json.loads(row.get("render_meta_json") or "{}").get("viewport") or [1280, 960]
        args: dict[str, Any] = {"layout": row.get("layout_json"), "viewport": [int(vp[0]), int(vp[1])]}
        if kind != "plot":
            args.update(
                axe=live.get("axe"),
                probe=live.get("probe"),
                fidelity=row.get("render_fidelity"),
                assets=row.get("render_assets"),
            )
        key = cache_key(design_key(kind, shot, args)) if self.cache is not None else None
        if key is not None and (hit := self.cache.get(key)) is not None:
            return hit
        if kind == "plot":
            res = design.judge_plot(args["layout"], shot)
        else:
            res = design.judge_page(
                args["layout"],
                shot,
                viewport=(args["viewport"][0], args["viewport"][1]),
                axe_violations=args["axe"],
                probe=args["probe"],
                fidelity=args["fidelity"],
                assets=args["assets"],
            )
        verdict = {
            "static_score": res.score,
            "static_subscores_json": _dumps({**res.subscores, "detail": res.checks_json()}),
            "static_findings_json": _dumps(res.findings),
            "static_rationale": res.rationale(),
            "static_judge": res.judge,
            "rubric_version": res.judge,
        }
        if key is not None:
            self.cache.put(key, verdict, {"judge": res.judge, "kind": kind})
        return verdict

    async def _grade_vlm(self, rows: list[dict[str, Any]], outs: list[dict[str, Any]]) -> None:
        if self.vlm is None:
            return
        t0 = time.perf_counter()
        for kind in ("html", "plot"):
            judge = self.vlm[kind]
            idx = [
                i
                for i, r in enumerate(rows)
                if (r.get("kind") or "html") == kind
                and _png(r.get("screenshot"))
                and r.get("render_status") in ("ok", "js_error")
            ]
            if not idx:
                continue
            items = []
            for i in idx:
                images = [_png(rows[i]["screenshot"])]
                ref = _png(rows[i].get("reference_image"))
                if ref and judge.rubric.uses_reference:
                    images.append(ref)
                items.append((rows[i].get("instruction") or "", images))
            verdicts = await judge.grade(items)
            for i, v in zip(idx, verdicts, strict=True):
                outs[i].update(
                    {
                        "vlm_score": v.score,
                        "vlm_judge": judge.judge_id,
                        "rubric_version": judge.rubric.id,
                        "vlm_subscores_json": _dumps(
                            {
                                **v.subscores,
                                "scale": judge.rubric.scale,
                                "error": v.error,
                                "cached": v.cached,
                                "attempts": v.attempts,
                            }
                        ),
                        "vlm_rationale": v.feedback if v.ok else f"VLM judge failed: {v.error}",
                        "_vlm_scale": judge.rubric.scale,
                    }
                )
        self._tick("vlm", t0)

    def _reward(self, row: dict[str, Any], out: dict[str, Any], fmt: bool | None) -> None:
        merged = {**row, **out}
        reward, parts = combine(merged, self.config.reward, out.get("_vlm_scale"), fmt)
        out["reward"] = float(reward)
        out["reward_json"] = _dumps(parts)
        out["_format_ok"] = fmt

    # -- entry points -----------------------------------------------------------------------------
    async def judge_rendered(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Judge rows that hold ``kind``, ``code``, ``instruction``, the render columns and (HTML) the
        capture columns; one dict per row. Opens a page only for rows without captures and for the
        VLM-driven interactive agent."""
        if not self._started:
            await self.start()

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            kind = row.get("kind") or "html"
            rendered = kind == "html" and row.get("render_status") in ("ok", "js_error")
            captured = has_captures(row)
            if rendered and (not captured or self._vlm_agent()):
                reopened = await self._reopen(row, captured)
                wall[id(row)] = reopened.pop("_wall", False)
                row = {**row, **reopened}
            elif kind == "html" and not captured and self.config.lint and row.get("code"):
                row = {**row, **await self._lint_only(row["code"])}
            return await self._verdict_async(row)

        wall: dict[int, bool] = {}  # rows whose reopening hit a wall-clock guard
        outs = list(await asyncio.gather(*(one(r) for r in rows)))
        for i, row in enumerate(rows):  # once more, alone, before the failure is final
            if wall.pop(id(row), False):
                outs[i] = await one(row)
        await self._grade_vlm(rows, outs)
        for row, out in zip(rows, outs, strict=True):
            self._reward(row, out, None)
        return outs

    async def _reopen(self, row: dict[str, Any], captured: bool) -> dict[str, Any]:
        """Open a rendered page again: capture it when the render step did not, and run the VLM agent.
        ``_wall`` in the result: the reopening hit a wall-clock guard (the caller retries it alone)."""
        from aesdata.render.html import files_root_of, settle

        code, instruction = row.get("code") or "", row.get("instruction") or ""
        pool = await self.browser_pool()
        out: dict[str, Any] = {}
        try:
            async with pool.open(code, files_root_of(row.get("meta_json"))) as session:
                if session.load_error is not None:
                    return {
                        "_reopened": {"errors": [f"reopening the page failed: {session.load_error}"]},
                        "_wall": session.load_error.startswith("wall_timeout"),
                    }
                await settle(session, pool.config)  # the page time of the screenshot
                if not captured:
                    out.update(await capture_live(session, code, self.capture_config(), self.timings))
                if self._vlm_agent():
                    out["_reopened"] = await self._explore_vlm(session, instruction)
        except Exception as e:  # noqa: BLE001
            out["_reopened"] = {"errors": [f"reopening the page failed: {_first_line(e)}"]}
            out["_wall"] = isinstance(e, asyncio.TimeoutError)
        return out

    async def _lint_only(self, code: str) -> dict[str, Any]:
        """HTMLHint for a page that did not render (there is no live page to capture)."""
        return await capture_lint(await self.browser_pool(), code, self.capture_config(), self.timings)

    async def render_and_judge(
        self, items: list[dict[str, Any]], format_ok: list[bool] | None = None
    ) -> list[dict[str, Any]]:
        """Render ``{kind, code, instruction}`` items, capture their live checks in the same visit and judge
        them from the captures.

        Returns per item the render and capture columns plus the judge columns. Missing code is a failed
        execution (``render_status`` ``skipped``).
        """
        from aesdata.render.html import confirm_timeout, render_html

        if not self._started:
            await self.start()
        capture_config = self.capture_config()

        async def one(item: dict[str, Any], last_try: bool = False) -> dict[str, Any]:
            kind, code = item.get("kind") or "html", item.get("code")
            row: dict[str, Any] = {**item}
            if not code:
                row.update({"render_status": "skipped", "render_error": "no code in the completion"})
                return row
            if kind == "plot":
                return row  # rendered below, all plots of the batch at once
            instruction = item.get("instruction") or ""

            async def live(session: Any) -> dict[str, Any]:
                out = await capture_live(session, code, capture_config, self.timings)
                if self._vlm_agent():
                    out["_reopened"] = await self._explore_vlm(session, instruction)
                return out

            t0 = time.perf_counter()
            row.update(await render_html(await self.browser_pool(), code, last_try=last_try, live=live))
            self._tick("render", t0)
            if not has_captures(row) and self.config.lint:
                row.update(await self._lint_only(code))
            return row

        plots = [k for k, i in enumerate(items) if (i.get("kind") or "html") == "plot" and i.get("code")]
        rows, plot_rows = await asyncio.gather(
            asyncio.gather(*(one(i) for i in items)),
            self._render_plots([items[k] for k in plots]) if plots else _none(),
        )
        rows = list(rows)
        for k, row in enumerate(rows):  # a wall-clock guard that fired: once more, alone, before it is final
            if row.get("render_status") == "wall_timeout":
                rows[k] = {**row, **confirm_timeout(await one(items[k], last_try=True), row)}
        for k, rendered in zip(plots, plot_rows or [], strict=True):
            rows[k].update(rendered)
        outs = list(await asyncio.gather(*(self._verdict_async(r) for r in rows)))
        await self._grade_vlm(rows, outs)
        for i, (row, out) in enumerate(zip(rows, outs, strict=True)):
            self._reward(row, out, format_ok[i] if format_ok else None)
        return [{**row, **out} for row, out in zip(rows, outs, strict=True)]

    async def _render_plots(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run plot scripts (``code`` + optional ``data_csv``) in the plot sandbox; return their render columns."""
        from aesdata.render.plot_sandbox import PlotJob, PlotSandbox

        async with self._plots_lock:  # concurrent callers share one sandbox, started once
            if self._plots is None:
                sandbox = PlotSandbox()
                await asyncio.to_thread(sandbox.start)
                self._plots = sandbox
        t0 = time.perf_counter()
        jobs = [PlotJob(code=i["code"], data_csv=i.get("data_csv")) for i in items]
        results = await asyncio.to_thread(self._plots.run_many, jobs)
        self._tick("render", t0)
        return [dict(r) for r in results]


#: the modules whose code decides a design verdict (with the appeal model's weights)
_DESIGN_CODE = ("design", "check", "colour", "page", "plot", "appeal", "pixels")


@functools.cache
def design_code_hash() -> str:
    """sha256 of the design judge's code, the appeal model (``_DESIGN_CODE``, ``appeal_model.json``) and the
    versions of the libraries its pixel measures use: a cached design verdict is reused only by the very
    code that computed it."""
    import numpy
    import PIL

    here = Path(__file__).parent
    files = [here / f"{m}.py" for m in _DESIGN_CODE] + [appeal.MODEL_PATH]
    libs = f"numpy {numpy.__version__}; pillow {PIL.__version__}".encode()
    return hash_bytes(b"".join(f.read_bytes() for f in files) + libs)


def design_key(kind: str, shot: bytes, args: dict[str, Any]) -> dict[str, Any]:
    """The request-cache key parts of a design verdict: the judge, its code, the screenshot's hash and the
    other inputs (layout, viewport, axe-core's violations, the probe, the render fidelity and assets)."""
    return {
        "judge": design.JUDGE_ID,
        "code": design_code_hash(),
        "kind": kind,
        "image": hash_bytes(shot),
        "inputs": hash_bytes(canonical_json(args).encode("utf-8")),
    }


def _first_line(e: BaseException) -> str:
    """The first line of an exception's text, else its type name (a timeout has no text)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


async def _none() -> None:
    return None


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value
