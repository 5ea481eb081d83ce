"""Live captures: everything a judge needs from a live page, taken during the render visit.

A page is loaded once. While it is open, after the renderer took its layout and screenshots,
:func:`capture_live` runs the in-page checks on that same page: HTMLHint over the source (in the page, as
a module-scoped function), the DOM probe (broken images and document facts), axe-core's colour contrast
and the built-in interactive agent's episode (actions, observations, per-action outcome). Their results
are the ``captures`` columns of the render step (``aesdata/schema.py``); the judge step turns them into
verdicts with no browser (:func:`live_from_row`), so rescoring a run with other weights, thresholds or
rule sets touches no page. The render stage, the reward path and ``aesdata score`` all capture here.

What a capture depends on is :class:`CaptureConfig` (part of the render step's config, so changing it
re-renders); the verdicts depend only on the judge step's config.

Inputs: a loaded ``PageSession`` (``aesdata.render.browser_pool``) and the sample's source. Output: a dict
keyed by the capture column names, every value JSON text or an int, never an exception.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from aesdata.judges import execution, inpage, interactive
from aesdata.schema import COLUMN_GROUPS
from aesdata.stage import StageConfig

CAPTURE_COLUMNS: tuple[str, ...] = tuple(COLUMN_GROUPS["captures"])
_LINT_DOC = "<!DOCTYPE html><title>lint</title>"
#: Default wall-clock bound of one page's live checks (a page that hangs mid-episode keeps what was measured).
LIVE_BUDGET_S = 45.0


class InteractiveJudgeConfig(StageConfig):
    """The interactive agent's episode bounds."""

    max_actions: int = Field(5, ge=1, description="interactions planned (K)")
    max_scored: int = Field(3, ge=1, description="interactions scored at most (AesCoder: 3)")
    settle_ms: int = Field(200, ge=0, description="wait after each action before observing")
    timeout_ms: int = Field(
        5000, ge=100, description="wall-clock guard per action: not done within it counts as unreachable"
    )


class CaptureConfig(StageConfig):
    """What the render visit captures for the judges. ``interactive: null`` skips the agent's episode."""

    lint: bool = Field(True, description="HTMLHint over the source, in the sample's page")
    lint_rules: list[str] = Field(
        default_factory=lambda: [*execution.FATAL_RULES, *execution.ADVISORY_RULES],
        description="HTMLHint rules run (the judge step decides which of them fail a page)",
    )
    axe: bool = Field(True, description="axe-core color-contrast on the live page")
    probe: bool = Field(True, description="DOM probe: broken images, document size")
    interactive: InteractiveJudgeConfig | None = Field(
        default_factory=InteractiveJudgeConfig, description="built-in interactive agent; null = off"
    )
    timeout_s: float = Field(
        default_factory=lambda: LIVE_BUDGET_S,
        gt=0,
        description="wall-clock bound of all live checks of one page",
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:160]


def empty_captures() -> dict[str, Any]:
    """The capture columns of a row whose page was not captured (failed render, plot, capture off)."""
    return {c: None for c in CAPTURE_COLUMNS}


async def capture_live(
    session: Any, code: str, config: CaptureConfig, timings: dict[str, float] | None = None
) -> dict[str, Any]:
    """Run the configured live checks on ``session``'s loaded page; return the capture columns.

    A check that fails or runs out of ``config.timeout_s`` is recorded in ``capture_errors_json``; the
    others keep their results. ``timings`` (optional) receives ``lint``, ``inpage`` and ``interactive`` ms.
    """
    out = empty_captures()
    errors: list[str] = []
    page = session.page
    deadline = time.perf_counter() + config.timeout_s

    def left() -> float:
        return max(0.5, deadline - time.perf_counter())

    async def step(name: str, coro: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await asyncio.wait_for(coro, left())
        except Exception as e:  # noqa: BLE001 - one failed check is that check's finding
            if isinstance(e, asyncio.TimeoutError):
                errors.append(
                    f"in-page checks stopped: {name} did not finish within {config.timeout_s:g} s of wall time"
                )
            else:
                errors.append(f"{name} failed: {_short(e)}")
            return None
        finally:
            if timings is not None:
                timings[name] = timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000

    if config.lint and code:
        rules = {r: True for r in config.lint_rules}
        messages = await step("lint", inpage.lint(page, code, rules))
        if messages is not None:
            out["lint_json"] = _dumps({"rules": list(config.lint_rules), "messages": messages})
    if config.probe:
        probe = await step("inpage", inpage.probe(page))
        if probe is not None:
            out["probe_json"] = _dumps(probe)
    if config.axe:
        axe = await step("inpage", inpage.axe_contrast(page))
        if axe is not None:
            out["axe_json"] = _dumps(axe)
    ic = config.interactive
    if ic is not None:
        result = await step(
            "interactive",
            interactive.explore(
                page,
                max_actions=ic.max_actions,
                max_scored=ic.max_scored,
                settle_ms=ic.settle_ms,
                timeout_ms=ic.timeout_ms,
                blocked=session.blocked,
            ),
        )
        if result is not None:
            out["explore_json"] = _dumps(
                {
                    "score": result.score,
                    "max_scored": result.max_scored,
                    "candidates": result.candidates,
                    "trace": result.trace,
                }
            )
            out["interactive_candidates"] = int(result.candidates)
    out["capture_errors_json"] = _dumps(errors)
    return out


async def capture_lint(
    pool: Any, code: str, config: CaptureConfig, timings: dict[str, float] | None = None
) -> dict[str, Any]:
    """HTMLHint over ``code`` in a blank page of ``pool``: the captures of a page that did not render
    (a timeout, a crash, a blank page). Empty when lint is off or the pool failed."""
    if not (config.lint and code):
        return {}
    only_lint = config.model_copy(update={"axe": False, "probe": False, "interactive": None})
    try:
        async with pool.open(_LINT_DOC) as session:
            return await capture_live(session, code, only_lint, timings)
    except Exception:  # noqa: BLE001 - the verdict records "HTMLHint did not run"
        return {}


async def render_captured(
    pool: Any, code: str, config: CaptureConfig, files_root: Path | None = None, last_try: bool = False
) -> dict[str, Any]:
    """Render ``code`` in ``pool`` (from its own folder ``files_root`` when it is a multi-file page) and
    capture the live checks in the same visit: the render columns plus the capture columns. A page that
    did not render gets its source linted in a blank page instead. ``last_try``: see
    ``aesdata.render.html.capture``."""
    from aesdata.render.html import render_html

    async def live(session: Any) -> dict[str, Any]:
        return await capture_live(session, code, config, session.timings)

    row = await render_html(pool, code, files_root, last_try=last_try, live=live)
    if row["render_status"] not in ("ok", "js_error"):
        row.update(await capture_lint(pool, code, config))
    return row


def live_from_row(
    row: dict[str, Any], lint_rules: tuple[str, ...] | None = None
) -> tuple[list[dict[str, Any]] | None, dict[str, Any]]:
    """Read a row's capture columns back as the judge's inputs: ``(lint messages, live)``.

    ``lint messages``: HTMLHint's messages for the rules in ``lint_rules`` (None: all captured), or None
    when lint was not captured. ``live``: ``{"probe", "axe", "interactive", "errors"}`` with ``interactive``
    an ``InteractiveResult`` when the agent ran; ``errors`` lists capture failures and rules the judge asks
    for that the render step did not run.
    """
    live: dict[str, Any] = {"errors": list(json.loads(row.get("capture_errors_json") or "[]"))}
    lint: list[dict[str, Any]] | None = None
    if row.get("lint_json"):
        captured = json.loads(row["lint_json"])
        lint = captured["messages"]
        if lint_rules is not None:
            missing = sorted(set(lint_rules) - set(captured["rules"]))
            if missing:
                live["errors"].append(
                    f"HTMLHint rules {', '.join(missing)} were not run by the render step "
                    "(add them to its capture.lint_rules)"
                )
            lint = [m for m in lint if m.get("rule") in lint_rules]
    if row.get("probe_json"):
        live["probe"] = json.loads(row["probe_json"])
    if row.get("axe_json"):
        live["axe"] = json.loads(row["axe_json"])
    if row.get("explore_json"):
        e = json.loads(row["explore_json"])
        live["interactive"] = interactive.InteractiveResult(
            float(e["score"]), int(e["max_scored"]), e["trace"], int(e["candidates"])
        )
    return lint, live


def has_captures(row: dict[str, Any]) -> bool:
    """Whether the render step captured this row's live page (an HTML page that rendered, capture on)."""
    return row.get("capture_errors_json") is not None
