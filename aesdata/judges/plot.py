"""Plot checks of the design judge: empty axes, unreadable tick labels, a legend over the data, labels, polish.

Inputs: the plot sandbox's figure description (``layout_json`` of a plot row, written by
``aesdata.render.plot_worker``) and optionally the PNG. A script that draws several figures is judged per
figure and the figures' check scores are averaged (each figure counts once, whatever its number of axes);
findings name the figure when there are several. Tick labels are tested for overlap on their real outlines:
a rotated label is the rotated rectangle the sandbox reports (``xtick_outlines``), not its upright
bounding box. Readability checks (tick labels, legend) are ``cap`` checks: the total is at most
50 + 50 * score, and the score falls in proportion to the share of labels or data affected, so a few
overlapping labels cost a few points, not half the score.

Output: ``DesignResult`` (see ``check.combine``). Written by hand: the separating-axis overlap test for
convex outlines and the formulas below.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from aesdata.judges import appeal, pixels
from aesdata.judges.check import Check, DesignResult, combine, plural
from aesdata.judges.colour import colour_checks
from aesdata.judges.page import space_checks

#: share of a plot's data points under its legend at which the legend check reaches 0
LEGEND_HIDES_ALL = 0.2
#: share of one axis's tick labels overlapping another at which the tick label check reaches 0
TICKS_UNREADABLE = 0.6
#: share of the aesthetics sub-score the appeal model takes for a plot (a transfer from web pages: kept small)
PLOT_APPEAL_SHARE = 0.2
#: figure sizes the libraries choose when the script does not (matplotlib 6.4 x 4.8 in at 100 dpi; plotly)
_DEFAULT_SIZES = {(640, 480), (700, 500), (700, 450)}
#: an axis label that is a raw column name: snake_case, or one lower-case word without units
_RAW_LABEL = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$|^[a-z]+$")


def plot_axes(figure: dict[str, Any]) -> list[dict[str, Any]]:
    """Normalise the plot sandbox's ``layout_json`` (``aesdata.render.plot_worker``) into a list of axes.

    Input: ``{"figures": [...]}`` where a matplotlib figure lists ``axes`` (``box`` [x, y, w, h] in
    pixels from the top left, ``has_data``, artist counts, ``n_points``, ``title``/``xlabel``/``ylabel``,
    ``xtick_labels``/``ytick_labels`` boxes, optionally ``xtick_outlines``/``ytick_outlines`` (each label's
    four rotated corners), ``n_texts``, ``legend`` {``box``, ``covered_data``}) and a plotly figure
    gives ``n_traces_with_data``, titles and the sandbox's estimated ``plot_box``, ``n_points`` and
    ``legend``. Output per axes: ``{bbox: [x0, y0, x1, y1] | None, data: int, points: int, title, xlabel,
    ylabel, ticks: {x: n, y: n}, ticks_overlapping: {x: n, y: n}, tick_heights: [px], legend: [x0, y0, x1,
    y1] | None, legend_covered: int, texts: int}``; ``points`` counts data points and bars (what a legend
    can hide), and ``ticks_overlapping`` the labels that overlap at least one other label of their axis
    (on their outlines when given). A plotly figure counts as one axes without tick boxes.
    """
    out: list[dict[str, Any]] = []
    for fig in figure.get("figures") or []:
        if not isinstance(fig, dict):
            continue
        if fig.get("library") == "plotly":
            legend = fig.get("legend") or {}
            out.append(
                {
                    "bbox": _corners(fig.get("plot_box")),
                    "data": int(fig.get("n_traces_with_data") or 0),
                    "points": int(fig.get("n_points") or 0),
                    "title": fig.get("title") or "",
                    "xlabel": fig.get("xaxis_title") or "",
                    "ylabel": fig.get("yaxis_title") or "",
                    "ticks": {},
                    "ticks_overlapping": {},
                    "tick_heights": [],
                    "legend": _corners(legend.get("box")),
                    "legend_covered": int(legend.get("covered_data") or 0),
                    "texts": len(fig.get("annotations") or [])
                    if isinstance(fig.get("annotations"), list)
                    else 0,
                }
            )
            continue
        for ax in fig.get("axes") or []:
            ticks = {"x": ax.get("xtick_labels") or [], "y": ax.get("ytick_labels") or []}
            outlines = {k: ax.get(f"{k}tick_outlines") or [] for k in ("x", "y")}
            legend = ax.get("legend") or {}
            data = sum(
                int(ax.get(k) or 0) for k in ("n_lines", "n_patches", "n_collections", "n_images", "n_points")
            )
            out.append(
                {
                    "bbox": _corners(ax.get("box")),
                    "data": data if ax.get("has_data", data > 0) else 0,
                    "points": int(ax.get("n_points") or 0) + int(ax.get("n_patches") or 0),
                    "title": ax.get("title") or "",
                    "xlabel": ax.get("xlabel") or "",
                    "ylabel": ax.get("ylabel") or "",
                    "ticks": {k: len(v) for k, v in ticks.items()},
                    "ticks_overlapping": {k: _overlapping(v, outlines[k]) for k, v in ticks.items()},
                    "tick_heights": [b[3] for v in ticks.values() for b in v if len(b) == 4],
                    "legend": _corners(legend.get("box")),
                    "legend_covered": int(legend.get("covered_data") or 0),
                    "texts": int(ax.get("n_texts") or 0),
                }
            )
    return out


def _corners(box: list[float] | None) -> list[float] | None:
    """[x, y, w, h] -> [x0, y0, x1, y1]; None for a missing or empty box."""
    if not box or len(box) != 4 or not box[2] or not box[3]:
        return None
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def _polygon(box: list[float], outline: Any) -> np.ndarray:
    """A label's outline as a 4 x 2 array: its rotated corners when the sandbox gave them, else its box."""
    if isinstance(outline, list) and len(outline) == 4 and all(len(c) == 2 for c in outline):
        return np.array(outline, dtype=np.float64)
    x, y, w, h = box
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)


def _polygons_overlap(a: np.ndarray, b: np.ndarray, tol: float = 0.5) -> bool:
    """Separating-axis test for two convex quadrilaterals; touching within ``tol`` px is not overlap."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
        pa, pb = a @ normals.T, b @ normals.T
        if np.any((pa.max(axis=0) <= pb.min(axis=0) + tol) | (pb.max(axis=0) <= pa.min(axis=0) + tol)):
            return False
    return True


def _overlapping(boxes: list[list[float]], outlines: list[Any] | None = None) -> int:
    """How many of the [x, y, w, h] label ``boxes`` overlap at least one other, tested on the labels' real
    ``outlines`` (rotated corners, aligned with ``boxes``) where given."""
    keep = [i for i, b in enumerate(boxes) if len(b) == 4]
    outlines = outlines if outlines and len(outlines) == len(boxes) else [None] * len(boxes)
    polys = [_polygon(boxes[i], outlines[i]) for i in keep]
    if len(polys) < 2:
        return 0
    lo = np.array([p.min(axis=0) for p in polys])
    hi = np.array([p.max(axis=0) for p in polys])
    near = (lo[:, None, 0] < hi[None, :, 0]) & (lo[None, :, 0] < hi[:, None, 0])
    near &= (lo[:, None, 1] < hi[None, :, 1]) & (lo[None, :, 1] < hi[:, None, 1])
    hit = np.zeros(len(polys), dtype=bool)
    for i, j in zip(*np.nonzero(np.triu(near, 1)), strict=True):
        if _polygons_overlap(polys[i], polys[j]):
            hit[i] = hit[j] = True
    return int(hit.sum())


def _area(b: list[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inside(a: list[float], b: list[float]) -> list[float]:
    """The intersection of two [x0, y0, x1, y1] boxes (possibly empty)."""
    return [max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]


def _tick_check(axes: list[dict[str, Any]], fig: dict[str, Any]) -> Check:
    """Tick labels a reader cannot read: scored by the worst axis's share of labels that overlap another
    (0 from ``TICKS_UNREADABLE`` of them on), then smaller than 6pt (by share) and over 25 on one axis.
    A readability check: it caps the plot's total (see ``_combine``)."""
    dpi = float(next((f.get("dpi") for f in fig.get("figures") or [] if f.get("dpi")), 100.0))
    min_px = 6 * dpi / 72  # a 6pt label
    labels = sum(n for a in axes for n in a["ticks"].values())
    overlapping = sum(n for a in axes for n in a["ticks_overlapping"].values())
    worst_share, worst = 0.0, ("", 0, 0)
    for a in axes:
        for k, n in a["ticks"].items():
            share = a["ticks_overlapping"].get(k, 0) / n if n else 0.0
            if share > worst_share:
                worst_share, worst = share, (k, a["ticks_overlapping"][k], n)
    heights = [h for a in axes for h in a["tick_heights"] if h > 0]
    tiny = sum(1 for h in heights if h < min_px)
    crowded = sum(1 for a in axes for n in a["ticks"].values() if n > 25)
    score = (
        max(0.0, 1.0 - worst_share / TICKS_UNREADABLE)
        * (1.0 - 0.5 * tiny / max(len(heights), 1))
        / (1.0 + 0.5 * crowded)
    )
    findings = []
    if overlapping:
        findings.append(
            f"{worst[1]} of {worst[2]} {worst[0]} tick labels overlap ({worst_share:.0%})"
            if overlapping == worst[1]
            else f"{overlapping} of {labels} tick labels overlap (worst axis {worst[1]} of {worst[2]})"
        )
    if tiny:
        findings.append(f"{plural(tiny, 'tick label')} smaller than 6pt")
    if crowded:
        findings.append(f"{plural(crowded, 'axis')} with more than 25 tick labels")
    return Check(
        "tick_labels",
        "aesthetics",
        2.0,
        score,
        findings,
        {
            "labels": labels,
            "overlapping": overlapping,
            "worst_share": round(worst_share, 3),
            "tiny": tiny,
            "crowded_axes": crowded,
        },
        role="cap",
    )


def _legend_check(axes: list[dict[str, Any]]) -> Check:
    """A legend over the data, scored by the worst axes: the share of its data points and bars under the
    legend (0 from ``LEGEND_HIDES_ALL`` of them on), at most 0.5 when the legend fills over 30% of the
    axes. A readability check: it caps the plot's total (see ``_combine``)."""
    score, findings, worst_share = 1.0, [], 0.0
    for a in axes:
        if not a["legend"] or not a["bbox"]:
            continue
        share = min(1.0, a["legend_covered"] / a["points"]) if a["points"] else float(a["legend_covered"] > 0)
        fill = _area(_inside(a["legend"], a["bbox"])) / max(_area(a["bbox"]), 1e-9)
        s = max(0.0, 1.0 - share / LEGEND_HIDES_ALL) * (0.5 if fill > 0.3 else 1.0)
        if a["legend_covered"]:
            findings.append(
                f"legend covers {a['legend_covered']} of {a['points']} data points ({share:.0%})"
                if a["points"]
                else f"legend covers {plural(a['legend_covered'], 'data point')}"
            )
        if fill > 0.3:
            findings.append(f"legend fills {fill:.0%} of the axes")
        score, worst_share = min(score, s), max(worst_share, share)
    return Check(
        "legend",
        "structure",
        1.5,
        score,
        findings,
        {"covered_share": round(worst_share, 3)},
        role="cap",
    )


def _polish_check(axes: list[dict[str, Any]], fig: dict[str, Any]) -> Check:
    """Care taken beyond the defaults: a title (on an axes or the figure), axis labels written for a reader
    rather than raw column names (``tip_pct``, ``date``), a figure size chosen for the content, and notes
    on the data (annotations). Scored 1 with all of them; a script that plots with every default scores
    about 0.4."""
    figs = [f for f in fig.get("figures") or [] if isinstance(f, dict)]
    titled = any(a["title"] for a in axes) or any(f.get("suptitle") or f.get("title") for f in figs)
    labels = [t for a in axes if a["data"] for t in (a["xlabel"], a["ylabel"]) if t]
    raw = [t for t in labels if _RAW_LABEL.match(re.sub(r"<[^>]+>", "", t).strip())]
    default_size = any((int(f.get("width") or 0), int(f.get("height") or 0)) in _DEFAULT_SIZES for f in figs)
    notes = sum(int(a.get("texts") or 0) for a in axes)
    score = 1.0 - (0 if titled else 0.35) - 0.25 * (len(raw) / len(labels) if labels else 0.0)
    score -= 0.15 if default_size else 0.0
    score -= 0.0 if notes or not axes else 0.05
    findings = []
    if not titled:
        findings.append("no title")
    if raw:
        findings.append(f"{plural(len(raw), 'axis label')} left as raw column names ({', '.join(raw[:3])})")
    if default_size:
        findings.append("default figure size")
    return Check(
        "polish",
        "aesthetics",
        2.5,
        max(0.0, score),
        findings,
        {"titled": titled, "raw_labels": len(raw), "default_size": default_size, "annotations": notes},
    )


def figure_checks(fig: dict[str, Any]) -> list[Check] | None:
    """The axes checks of one figure description ``{"figures": [one figure]}``; None when it has no axes."""
    axes = plot_axes(fig)
    if not axes:
        return None
    empty = [i for i, a in enumerate(axes) if a["data"] == 0]
    unlabeled = sum(1 for a in axes if a["data"] and not (a["title"] or a["xlabel"] or a["ylabel"]))
    return [
        Check(
            "empty_axes",
            "structure",
            3.0,
            1 - len(empty) / len(axes),
            [f"{len(empty)} of {plural(len(axes), 'axes')} empty"] if empty else [],
            {"axes": len(axes), "empty": len(empty)},
        ),
        _tick_check(axes, fig),
        _legend_check(axes),
        Check(
            "labels",
            "aesthetics",
            1.0,
            1 - 0.5 * unlabeled / len(axes),
            [f"{plural(unlabeled, 'axes')} without a title or axis labels"] if unlabeled else [],
            {"unlabeled": unlabeled},
        ),
        _polish_check(axes, fig),
    ]


def _merge(per_figure: list[list[Check]]) -> list[Check]:
    """One check per name over several figures: the mean score, findings prefixed with the figure number."""
    if len(per_figure) == 1:
        return per_figure[0]
    out = []
    for name in [c.name for c in per_figure[0]]:
        mine = [(k, c) for k, checks in enumerate(per_figure) for c in checks if c.name == name]
        first = mine[0][1]
        out.append(
            Check(
                name,
                first.group,
                first.weight,
                float(np.mean([c.score for _, c in mine])),
                [f"figure {k + 1}: {f}" for k, c in mine for f in c.findings],
                {"per_figure": [round(c.score, 4) for _, c in mine]},
                role=first.role,
            )
        )
    return out


def judge_plot(figure: dict[str, Any] | str | None, screenshot_png: bytes | None) -> DesignResult:
    """Score a rendered plot: per figure, empty axes, overlapping or unreadable tick labels, a legend over
    the data, missing labels and polish; then the colour and blankness checks and the appeal model (with a
    small share, ``PLOT_APPEAL_SHARE``) on its PNG."""
    fig = json.loads(figure) if isinstance(figure, str) else (figure or {})
    per_figure = [
        checks
        for f in fig.get("figures") or []
        if isinstance(f, dict) and (checks := figure_checks({**fig, "figures": [f]})) is not None
    ]
    checks: list[Check] = _merge(per_figure) if per_figure else []
    not_measured: list[str] = [] if per_figure else ["axes checks (no axes in the figure description)"]
    if per_figure and len(per_figure) > 1:
        not_measured.append(f"{len(per_figure)} figures judged one by one, check scores averaged")
    if screenshot_png:
        rgb = pixels.decode(screenshot_png)
        checks += colour_checks(rgb)
        checks += [c for c in space_checks(rgb) if c.name == "blankness"]
        liking = appeal.appeal_check(screenshot_png, share=PLOT_APPEAL_SHARE)
        liking.findings = []  # fitted on web pages: a weak value is a hint for a plot, not a finding
        checks.append(liking)
    return combine(checks, "plot", not_measured)
