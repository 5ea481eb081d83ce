"""The design judge's building blocks: a measured ``Check``, the ``DesignResult`` and how checks combine.

A check gives a score in 0..1 (1 = no defect), a weight, a group (``aesthetics`` or ``structure``) and, when
it finds a defect, a finding in plain English ("4 text blocks below 4.5:1 contrast"). ``combine`` turns the
checks of one page or plot into the OpenDesign-shaped verdict (see its docstring for the formula).

Inputs: ``Check`` objects made by ``colour``, ``page``, ``plot`` and ``appeal`` checks. Output:
``DesignResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: judge id and rubric version; bump when a score can change so cached judge results are redone
JUDGE_ID = "design@4"

_ROLE = {
    "h1": "heading",
    "h2": "heading",
    "h3": "heading",
    "h4": "heading",
    "h5": "heading",
    "h6": "heading",
    "button": "button",
    "a": "link",
    "p": "paragraph",
    "img": "image",
    "input": "input",
    "select": "select",
    "textarea": "text area",
    "label": "label",
    "li": "list item",
    "nav": "navigation",
    "span": "text",
    "td": "table cell",
    "th": "table header",
    "canvas": "canvas",
    "svg": "graphic",
    "div": "box",
}

#: irregular plurals of the words findings count
_PLURALS = {"axes": "axes", "axis": "axes", "canvas": "canvases", "box": "boxes", "gap": "gaps"}


@dataclass
class Check:
    """One measured check: ``score`` 0..1 (1 = no defect), its ``weight`` and ``group``, findings and metrics."""

    name: str
    group: str
    weight: float
    score: float
    findings: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: how the check enters the total (see ``combine``): ``mean`` (its group's weighted mean), ``cap`` (the
    #: total is at most 50 + 50 * score: readability checks of plots), ``factor`` (the total is multiplied
    #: by the score: what failed to render or left the page empty, in proportion to what is lost)
    role: str = "mean"
    #: an upper bound on the total whatever the other checks say (render fidelity: degraded or broken)
    ceiling: float | None = None


@dataclass
class DesignResult:
    """A design verdict: ``score`` 0..100, ``subscores`` (OpenDesign-shaped), ``findings`` and per-check detail."""

    score: float
    subscores: dict[str, Any]
    findings: list[str]
    checks: list[Check]
    mode: str
    judge: str = JUDGE_ID

    def rationale(self) -> str:
        """One paragraph: the score, the weakest checks, and the findings."""
        weak = sorted((c for c in self.checks if c.score < 0.999), key=lambda c: c.score)[:3]
        head = f"design score {self.score:.1f}/100 ({self.mode} mode)"
        if weak:
            head += "; weakest: " + ", ".join(f"{c.name} {c.score:.2f}" for c in weak)
        return head + (". " + "; ".join(self.findings) if self.findings else ". no defects found")

    def checks_json(self) -> list[dict[str, Any]]:
        """Per-check detail as JSON-ready dicts."""
        return [
            {
                "name": c.name,
                "group": c.group,
                "weight": c.weight,
                "score": round(c.score, 4),
                "role": c.role,
                "metrics": c.metrics,
            }
            for c in self.checks
        ]


# ---------------------------------------------------------------------------------------------- helpers
def describe(el: dict[str, Any]) -> str:
    """Human name of a layout element: its role and a few words of its text, e.g. ``button "Buy now"``."""
    tag = str(el.get("tag", "")).lower()
    role = _ROLE.get(tag, tag or "element")
    text = " ".join(str(el.get("text") or "").split())
    return f'{role} "{text[:24]}{"..." if len(text) > 24 else ""}"' if text else role


def plural(n: int, word: str) -> str:
    """``n`` and ``word`` in the right number: ``plural(5, "axes")`` is "5 axes", ``plural(2, "image")``
    "2 images"."""
    if n == 1:
        return f"1 {'axes' if word == 'axes' else word}"
    return f"{n} {_PLURALS.get(word, word + 's')}"


def band(value: float, lo: float, hi: float, soft: float) -> float:
    """1 inside [lo, hi], falling linearly to 0 at ``soft`` (relative) outside it."""
    if lo <= value <= hi:
        return 1.0
    edge = lo if value < lo else hi
    return max(0.0, 1.0 - abs(value - edge) / max(abs(edge) * soft, 1e-9))


# ---------------------------------------------------------------------------------------------- scoring
#: share of the aesthetics sub-score given by the appeal model (the rest: the measured craft checks)
APPEAL_SHARE = 0.55
#: exponent on each group's weighted mean of check scores: a defect costs about twice its face value, so a
#: page with several findings lands mid-scale instead of at 90
SHARPNESS = 2.0


def combine(checks: list[Check], mode: str, not_measured: list[str]) -> DesignResult:
    """Combine checks into a 0..100 verdict shaped like OpenDesign's aesthetics (0..30) + structure (0..30).

    - Each group's ``mean`` checks give a weighted mean m; the group scores 30 * m ** ``SHARPNESS``.
    - The ``appeal`` check (the model fitted on human ratings, ``appeal.py``) takes a share of the
      aesthetics sub-score (its ``weight``, else ``APPEAL_SHARE``):
      aesthetics = 30 * (share * appeal + (1 - share) * m ** SHARPNESS).
    - total = (aesthetics + structure) / 60 * 100, then multiplied by every ``factor`` check's score
      (damage: failed assets, empty charts, missing images, in proportion to what is lost), then bounded
      by ``cap`` checks (50 + 50 * score) and by ``ceiling`` values (render fidelity).
    ``subscores["capped_by"]`` names the check that bounded the total, if any.
    """
    groups: dict[str, float | None] = {}
    appeal = next((c for c in checks if c.name == "appeal"), None)
    for group in ("aesthetics", "structure"):
        members = [c for c in checks if c.group == group and c.role == "mean" and c is not appeal]
        weight = sum(c.weight for c in members)
        mean = sum(c.weight * c.score for c in members) / weight if weight else None
        craft = None if mean is None else mean**SHARPNESS
        if group == "aesthetics" and appeal is not None:
            share = appeal.weight or APPEAL_SHARE
            craft = appeal.score if craft is None else share * appeal.score + (1 - share) * craft
        groups[group] = None if craft is None else round(30.0 * craft, 3)
    measured = [v for v in groups.values() if v is not None]
    total = 100.0 * sum(measured) / (30.0 * len(measured)) if measured else 0.0
    for c in checks:
        if c.role == "factor":
            total *= max(0.0, min(1.0, c.score))
    capped_by = None
    for c in checks:
        bound = 50.0 + 50.0 * c.score if c.role == "cap" else None
        if c.ceiling is not None:
            bound = c.ceiling if bound is None else min(bound, c.ceiling)
        if bound is not None and total > bound:
            total, capped_by = bound, c.name
    subscores: dict[str, Any] = {
        "aesthetics": groups["aesthetics"],
        "structure": groups["structure"],
        "alignment": None,
        "scale": "aesthetics 0..30 + structure 0..30, rescaled to 0..100, times damage factors",
        "not_measured": ["alignment (instruction match needs a VLM judge)", *not_measured],
        "checks": {c.name: round(c.score, 4) for c in checks},
    }
    if appeal is not None:
        subscores["appeal"] = round(appeal.score, 4)
    if capped_by:
        subscores["capped_by"] = capped_by
    findings = [f for c in sorted(checks, key=lambda c: c.score) for f in c.findings]
    return DesignResult(round(total, 2), subscores, findings, checks, mode)
