"""Run every configured judge over rows: the one code path behind the judge stage, the rewards and ``aesdata score``.

``Judges(config)`` owns (or borrows) a ``BrowserPool``, the VLM judge and the request cache. HTMLHint runs
in the sample's own page (as a module-scoped function, no globals), else in a blank pool page. Two entry points:

- ``judge_rendered(rows)``: rows that already hold the render columns (the ``judge`` stage). HTML rows
  whose render produced a page are opened again in the pool for the live checks (axe-core contrast,
  broken images, the interactive agent).
- ``render_and_judge(items)``: ``{kind, code, instruction}`` items rendered here and judged on the same
  live page (rewards, ``aesdata score``), so a completion is loaded once.

Both return, per row, the judge columns of the schema (``exec_*``, ``static_*``, ``rubric_version``,
``vlm_*``, ``interactive_*``, ``reward``, ``reward_json``) plus underscored helper keys the caller drops.
A judge that fails on one row records the failure in that row's findings; it never stops the batch.
Every page gets its verdict within a bound, whatever it does after load: the render's guards (see
``aesdata.render.html``), and ``_LIVE_BUDGET_S`` of wall time for the in-page checks and the interactive
episode, which run in page time on the pool's page clock from the same page time as the screenshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any, Literal

from pydantic import Field

from aesdata.judges import design, execution, inpage, interactive
from aesdata.judges.reward import RewardConfig, combine
from aesdata.judges.rubrics import get_rubric
from aesdata.schema import COLUMN_GROUPS
from aesdata.stage import StageConfig

JUDGE_COLUMNS: tuple[str, ...] = tuple(COLUMN_GROUPS["judges"])  # what the judge stage writes


class VLMJudgeConfig(StageConfig):
    """The VLM judge: an OpenAI-compatible endpoint (or vLLM in-process) and the rubrics it grades by."""

    base_url: str | None = Field(None, description="endpoint ending in /v1 (openai backend)")
    model: str = Field(..., description="vision model name")
    backend: Literal["openai", "vllm"] = Field(
        "openai", description="openai: any OpenAI-compatible server; vllm: in-process"
    )
    rubric: str = Field("opendesign", description="rubric for HTML pages: opendesign | webgen")
    plot_rubric: str = Field("plotbench", description="rubric for plots")
    structured: Literal["json_schema", "guided_json", "none"] = Field(
        "json_schema", description="how to constrain the answer"
    )
    concurrency: int = Field(8, ge=1, description="requests in flight")
    timeout_s: float = Field(120.0, gt=0, description="seconds per attempt")
    max_retries: int = Field(3, ge=0, description="retries after timeouts, 429/5xx, garbage replies")
    backoff_s: float = Field(1.0, ge=0, description="first retry delay (doubles)")
    parse_retries: int = Field(2, ge=0, description="re-asks after an unreadable answer")
    max_tokens: int = Field(512, ge=16)
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the API key")
    interactive_agent: bool = Field(
        False, description="also drive the interactive judge with this model (Set-of-Mark)"
    )


class InteractiveJudgeConfig(StageConfig):
    """The interactive agent's episode bounds."""

    max_actions: int = Field(5, ge=1, description="interactions planned (K)")
    max_scored: int = Field(3, ge=1, description="interactions scored at most (AesCoder: 3)")
    settle_ms: int = Field(200, ge=0, description="wait after each action before observing")
    timeout_ms: int = Field(
        5000, ge=100, description="wall-clock guard per action: not done within it counts as unreachable"
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


_LINT_DOC = "<!DOCTYPE html><title>lint</title>"
#: Wall-clock guard of one page's in-page checks and interactive episode (a page that hangs mid-episode).
_LIVE_BUDGET_S = 60.0


def _png(image: Any) -> bytes | None:
    if isinstance(image, dict):
        return image.get("bytes")
    return image if isinstance(image, (bytes, bytearray)) else None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class Judges:
    """Judge rows with the configured judges (see module docstring).

    ``pool``: a started ``BrowserPool`` to borrow (else one is made from ``render_config`` and owned);
    ``cache``: the shared ``RequestCache`` for VLM verdicts (None = no cache).
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
        self._own_pool = pool is None
        self.render_config = render_config
        self.cache = cache
        self.vlm: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._plots: Any = None
        self._plots_lock = asyncio.Lock()
        self.timings: dict[str, float] = {}

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the pool (when owned) and the VLM client."""
        from aesdata.render.browser_pool import BrowserPool

        if self.pool is None:
            self.pool = BrowserPool(self.render_config)
        if self._own_pool:
            await self._stack.enter_async_context(self.pool)
        if self.config.vlm is not None:
            self.vlm = self._make_vlm()

    def _make_vlm(self) -> Any:
        from aesdata.judges.vlm import VLMJudge
        from aesdata.llm import LLMConfig, make_backend

        v = self.config.vlm
        assert v is not None
        backend = make_backend(
            LLMConfig(
                backend=v.backend,
                model=v.model,
                base_url=v.base_url,
                api_key_env=v.api_key_env,
                concurrency=v.concurrency,
                timeout_s=v.timeout_s,
                max_retries=v.max_retries,
                backoff_s=v.backoff_s,
            )
        )
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
        self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000

    # -- pieces -----------------------------------------------------------------------------------
    async def _lint(self, code: str | None, session: Any = None) -> list[dict[str, Any]] | None:
        """HTMLHint messages for ``code``, run in the sample's own loaded page (``session``), or in a short pool
        session of its own when there is none; None when lint is off or failed."""
        if not self.config.lint or not code:
            return None
        t0 = time.perf_counter()
        rules = execution.htmlhint_rules(tuple(self.config.fatal_rules), tuple(self.config.advisory_rules))
        try:
            if session is not None and session.load_error is None:
                return await asyncio.wait_for(inpage.lint(session.page, code, rules), 10)
            async with self.pool.open(_LINT_DOC) as own:
                return await inpage.lint(own.page, code, rules)
        except Exception:  # noqa: BLE001 - recorded as "HTMLHint did not run"
            return None
        finally:
            self._tick("lint", t0)

    async def _live(self, session: Any, code: str, instruction: str) -> dict[str, Any]:
        """In-page checks on a loaded sample (probe, axe contrast, interactive episode), bounded by
        ``_LIVE_BUDGET_S``: a page that stops answering keeps what was measured and says so."""
        out: dict[str, Any] = {"errors": []}
        try:
            await asyncio.wait_for(self._live_checks(session, instruction, out), _LIVE_BUDGET_S)
        except asyncio.TimeoutError:
            out["errors"].append(
                f"in-page checks stopped: the page did not answer within {_LIVE_BUDGET_S:g} s of wall time"
            )
        return out

    async def _live_checks(self, session: Any, instruction: str, out: dict[str, Any]) -> None:
        """The checks of :meth:`_live`, filling ``out``."""
        page = session.page
        t0 = time.perf_counter()
        try:
            out["probe"] = await inpage.probe(page)
            if self.config.axe:
                out["axe"] = await inpage.axe_contrast(page)
        except Exception as e:  # noqa: BLE001
            out["errors"].append(f"in-page checks failed: {_first_line(e)}")
        self._tick("inpage", t0)
        ic = self.config.interactive
        if ic is not None:
            t1 = time.perf_counter()
            try:
                if self.config.vlm is not None and self.config.vlm.interactive_agent and self.vlm is not None:
                    out["interactive"] = await interactive.explore_vlm(
                        page,
                        self.vlm["html"].backend,
                        instruction,
                        max_actions=ic.max_actions,
                        max_scored=ic.max_scored,
                        settle_ms=ic.settle_ms,
                        timeout_ms=ic.timeout_ms,
                    )
                else:
                    out["interactive"] = await interactive.explore(
                        page,
                        max_actions=ic.max_actions,
                        max_scored=ic.max_scored,
                        settle_ms=ic.settle_ms,
                        timeout_ms=ic.timeout_ms,
                        blocked=session.blocked,
                    )
            except Exception as e:  # noqa: BLE001
                out["errors"].append(f"interactive agent failed: {_first_line(e)}")
            self._tick("interactive", t1)

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
            if kind == "plot":
                res = design.judge_plot(row.get("layout_json"), shot)
            else:
                vp = json.loads(row.get("render_meta_json") or "{}").get("viewport") or [1280, 960]
                res = design.judge_page(
                    row.get("layout_json"),
                    shot,
                    viewport=(int(vp[0]), int(vp[1])),
                    axe_violations=live.get("axe"),
                    probe=live.get("probe"),
                )
            out.update(
                {
                    "static_score": res.score,
                    "static_subscores_json": _dumps({**res.subscores, "detail": res.checks_json()}),
                    "static_findings_json": _dumps(res.findings),
                    "static_rationale": res.rationale(),
                    "static_judge": res.judge,
                    "rubric_version": res.judge,
                }
            )
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
        """Judge rows that hold ``kind``, ``code``, ``instruction`` and the render columns; one dict per row."""
        from aesdata.render.html import settle

        if self.pool is None:
            await self.start()

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            kind = row.get("kind") or "html"
            code = row.get("code") or ""
            lint: list[dict[str, Any]] | None = None
            live: dict[str, Any] = {}
            if (
                kind == "html"
                and row.get("render_status") in ("ok", "js_error")
                and (self.config.axe or self.config.interactive is not None)
            ):
                try:
                    async with self.pool.open(code) as session:
                        lint = await self._lint(code, session)
                        if session.load_error is None:
                            await settle(session, self.pool.config)  # the page time of the screenshot
                            live = await self._live(session, code, row.get("instruction") or "")
                        else:
                            live = {"errors": [f"reopening the page failed: {session.load_error}"]}
                            wall[id(row)] = session.load_error.startswith("wall_timeout")
                except Exception as e:  # noqa: BLE001
                    live = {"errors": [f"reopening the page failed: {_first_line(e)}"]}
                    wall[id(row)] = isinstance(e, asyncio.TimeoutError)
            elif kind == "html":
                lint = await self._lint(code)
            return self._verdict(row, lint, live)

        wall: dict[int, bool] = {}  # rows whose reopening hit a wall-clock guard
        outs = list(await asyncio.gather(*(one(r) for r in rows)))
        for i, row in enumerate(rows):  # once more, alone, before the failure is final
            if wall.pop(id(row), False):
                outs[i] = await one(row)
        await self._grade_vlm(rows, outs)
        for row, out in zip(rows, outs, strict=True):
            self._reward(row, out, None)
        return outs

    async def render_and_judge(
        self, items: list[dict[str, Any]], format_ok: list[bool] | None = None
    ) -> list[dict[str, Any]]:
        """Render ``{kind, code, instruction}`` items and judge them on the same live page.

        Returns per item the render columns plus the judge columns. Missing code is a failed execution
        (``render_status`` ``skipped``).
        """
        from aesdata.render.html import capture, confirm_timeout

        if self.pool is None:
            await self.start()

        async def one(item: dict[str, Any], last_try: bool = False) -> dict[str, Any]:
            kind, code = item.get("kind") or "html", item.get("code")
            row: dict[str, Any] = {**item}
            if not code:
                row.update({"render_status": "skipped", "render_error": "no code in the completion"})
                return row
            if kind == "plot":
                return row  # rendered below, all plots of the batch at once
            live: dict[str, Any] = {}
            lint: list[dict[str, Any]] | None = None
            t0 = time.perf_counter()
            try:
                async with self.pool.open(code) as session:
                    row.update(await capture(session, self.pool.config, last_try=last_try))
                    self._tick("render", t0)
                    hung = row["render_status"] in ("wall_timeout", "crash")  # lint in a page of its own
                    lint = await self._lint(code, None if hung else session)
                    if row["render_status"] in ("ok", "js_error"):
                        live = await self._live(session, code, item.get("instruction") or "")
            except Exception as e:  # noqa: BLE001
                row.update(
                    {"render_status": row.get("render_status") or "error", "render_error": str(e)[:300]}
                )
            row["_lint"] = lint
            row["_live"] = live
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
        outs = [self._verdict(r, r.pop("_lint", None), r.pop("_live", {})) for r in rows]
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


def _first_line(e: BaseException) -> str:
    """The first line of an exception's text, else its type name (a timeout has no text)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:160]


async def _none() -> None:
    return None


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value
