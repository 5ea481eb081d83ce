"""Execution judge: does the candidate run and render at all? Pass (+1) or fail (-1), with findings.

HTML: the HTMLHint rules the AesCoder execution agent checks (doctype first, paired tags, unique ids,
no duplicated attributes, valid tag names; viewport meta, title and alt text as advisory), run with
HTMLHint's own browser build (``inpage.lint``); plus the render status (the renderer decides blankness),
uncaught page errors and a missing screenshot. Plots: the script ran and produced a non-empty figure (axes with data).

Inputs are the render columns of a row (``render_status``, ``console_errors_json``, ``screenshot``,
``plot_figures``, ``layout_json``) and, for HTML, HTMLHint's messages. Output: ``ExecResult``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: HTMLHint rules whose violation fails the page (structure the browser has to guess about)
FATAL_RULES: tuple[str, ...] = (
    "doctype-first",
    "tag-pair",
    "id-unique",
    "attr-no-duplication",
    "tagname-specialchars",
)
#: HTMLHint rules reported as findings only
ADVISORY_RULES: tuple[str, ...] = (
    "meta-viewport-require",
    "title-require",
    "alt-require",
    "src-not-empty",
    "doctype-html5",
)


def htmlhint_rules(
    fatal: tuple[str, ...] = FATAL_RULES, advisory: tuple[str, ...] = ADVISORY_RULES
) -> dict[str, bool]:
    """The HTMLHint ruleset object passed to ``HTMLHint.verify``."""
    return {rule: True for rule in (*fatal, *advisory)}


@dataclass
class ExecResult:
    """Verdict of the execution judge: ``passed``, ``score`` (+1 / -1) and findings ``[{check, severity, message}]``."""

    passed: bool
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float:
        """+1 when passed, -1 otherwise (the AesCoder convention)."""
        return 1.0 if self.passed else -1.0

    def fatal(self) -> list[dict[str, Any]]:
        """The findings that failed the candidate."""
        return [f for f in self.findings if f["severity"] == "error"]


def page_errors(console_errors_json: str | None) -> tuple[list[str], list[str]]:
    """Split the renderer's error list into (uncaught page errors, other console errors).

    Entries may be strings or objects with ``type``/``kind``/``source`` and ``text``/``message``; an entry is
    an uncaught error when its kind is ``pageerror`` or its text starts with ``Uncaught``. Resource-load
    failures (the network is blocked on purpose) are console errors, not page errors.
    """
    if not console_errors_json:
        return [], []
    try:
        items = json.loads(console_errors_json)
    except (TypeError, ValueError):
        return [str(console_errors_json)], []
    uncaught, other = [], []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict):
            if item.get("blocked_resource"):  # a CDN request the sealed network refused on purpose
                continue
            kind = str(item.get("type") or item.get("kind") or item.get("source") or "")
            text = str(item.get("text") or item.get("message") or item.get("error") or "")
        else:
            kind, text = "", str(item)
        if kind in ("pageerror", "uncaught", "exception") or text.startswith("Uncaught"):
            uncaught.append(text[:300])
        else:
            other.append(text[:300])
    return uncaught, other


def judge_html(
    render_status: str | None,
    render_error: str | None,
    console_errors_json: str | None,
    screenshot_png: bytes | None,
    lint_messages: list[dict[str, Any]] | None,
    fatal_rules: tuple[str, ...] = FATAL_RULES,
) -> ExecResult:
    """Judge one rendered HTML candidate.

    Fails on: a render status other than ``ok`` (``js_error`` and ``blank`` included: the renderer decides
    blankness), an uncaught page error, a missing screenshot, or an HTMLHint message from ``fatal_rules``.
    ``lint_messages`` None means lint did not run (recorded as a finding, not a failure).
    """
    findings: list[dict[str, Any]] = []
    status = render_status or "missing"
    if status != "ok":
        findings.append(
            {
                "check": "render",
                "severity": "error",
                "message": f"render {status}" + (f": {render_error[:200]}" if render_error else ""),
            }
        )
    uncaught, other = page_errors(console_errors_json)
    for text in uncaught:
        findings.append({"check": "page_error", "severity": "error", "message": f"uncaught error: {text}"})
    if other:
        findings.append(
            {
                "check": "console",
                "severity": "warning",
                "message": f"{len(other)} console error(s), first: {other[0][:160]}",
            }
        )
    if not screenshot_png and status == "ok":
        findings.append({"check": "screenshot", "severity": "error", "message": "no screenshot"})
    if lint_messages is None:
        findings.append({"check": "lint", "severity": "info", "message": "HTMLHint did not run"})
    else:
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for msg in lint_messages:
            by_rule.setdefault(msg["rule"], []).append(msg)
        for rule, msgs in sorted(by_rule.items()):
            first = msgs[0]
            findings.append(
                {
                    "check": f"htmlhint:{rule}",
                    "severity": "error" if rule in fatal_rules else "warning",
                    "message": f"{rule} x{len(msgs)}: {first['message'][:160]} (line {first.get('line')})",
                }
            )
    return ExecResult(passed=not any(f["severity"] == "error" for f in findings), findings=findings)


def judge_plot(
    render_status: str | None,
    render_error: str | None,
    plot_figures: int | None,
    figure: dict[str, Any] | None,
) -> ExecResult:
    """Judge one plot script: it ran (status ``ok``), made at least one figure, and some axes hold data.

    ``figure`` is the parsed plot ``layout_json`` (see ``design.plot_axes``); None skips the data check.
    """
    from aesdata.judges.design import plot_axes

    findings: list[dict[str, Any]] = []
    status = render_status or "missing"
    if status != "ok":
        findings.append(
            {
                "check": "run",
                "severity": "error",
                "message": f"script {status}" + (f": {render_error[-300:]}" if render_error else ""),
            }
        )
    if status == "ok" and not plot_figures:
        findings.append({"check": "figure", "severity": "error", "message": "no figure produced"})
    if status == "ok" and figure is not None:
        axes = plot_axes(figure)
        if axes and not any(a["data"] > 0 for a in axes):
            findings.append(
                {"check": "figure", "severity": "error", "message": "figure has no axes with data"}
            )
        elif not axes:
            findings.append({"check": "figure", "severity": "error", "message": "figure has no axes"})
    return ExecResult(passed=not findings, findings=findings)
