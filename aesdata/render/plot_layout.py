"""Layout summaries of drawn figures for the judges: axes, text boxes, overlaps, legends, data points.

Input: a drawn matplotlib ``Figure`` (Agg canvas) or a plotly figure. Output: a JSON-able dict per figure
(the ``layout_json`` the design judge reads, ``aesdata.judges.design.plot_axes``): per axes its box,
title and labels, tick labels, legend box, whether it holds data, and counted overlaps; for plotly the
same read from the figure's layout and data (geometry computed here, no browser).

Runs inside the plot worker's sandbox, which loads it by path (``plot_worker.load_siblings``): it
imports nothing from aesdata, and matplotlib / plotly only through the figures it is given.
Hand-written: no library summarises a figure's layout this way.
"""

from __future__ import annotations

import base64
import json
import re
import traceback
from typing import Any


def _error_line(exc: BaseException) -> str:
    """The exception's last line (``Type: message``)."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _box(bbox: Any, height: float) -> list[float]:
    """A matplotlib display bbox as [x, y, w, h] in PNG pixels (origin top-left)."""
    return [round(bbox.x0, 1), round(height - bbox.y1, 1), round(bbox.width, 1), round(bbox.height, 1)]


def _outline(label: Any, bb: Any, renderer: Any, height: float) -> list[list[float]]:
    """The four corners (PNG pixels, origin top-left) of a tick label's rotated text rectangle: its
    upright extent turned by its rotation about the centre of its bounding box (which a rotated
    rectangle's bounding box shares), so the judge tests overlap on the real outline."""
    import math

    rotation = label.get_rotation()
    angle = rotation % 180
    if angle % 90 == 0:
        x, y, w, h = _box(bb, height)
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    label.set_rotation(0)
    try:
        upright = label.get_window_extent(renderer)
    finally:
        label.set_rotation(rotation)
    w, h = upright.width / 2, upright.height / 2
    cx, cy = (bb.x0 + bb.x1) / 2, height - (bb.y0 + bb.y1) / 2
    t = math.radians(angle)  # counter-clockwise on screen = clockwise in top-left pixel coordinates
    c, s = math.cos(t), math.sin(t)
    return [
        [float(round(cx + dx * c + dy * s, 1)), float(round(cy - dx * s + dy * c, 1))]
        for dx, dy in ((-w, -h), (w, -h), (w, h), (-w, h))
    ]


def _overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _count_overlaps(boxes: list[list[float]]) -> int:
    return sum(_overlaps(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


def _outside(box: list[float], width: float, height: float) -> bool:
    return box[0] < -0.5 or box[1] < -0.5 or box[0] + box[2] > width + 0.5 or box[1] + box[3] > height + 0.5


def _collection_has_data(collection: Any) -> bool:
    """Scatter-like collections hold data in their offsets (their paths are marker shapes); others in paths."""
    from matplotlib.collections import PathCollection

    if isinstance(collection, PathCollection):
        return len(collection.get_offsets()) > 0
    return len(collection.get_paths()) > 0


def mpl_layout(fig: Any) -> dict[str, Any]:
    """Per axes: box, data artists, title/labels, tick label boxes and overlaps, legend and what it hides."""
    import numpy as np

    renderer = fig.canvas.get_renderer()
    width, height = fig.canvas.get_width_height()
    axes_out = []
    clipped_total = 0
    for ax in fig.axes[:24]:
        if not ax.get_visible():
            continue
        ax_box = ax.get_window_extent(renderer)
        lines = [ln for ln in ax.get_lines() if ln.get_visible() and len(ln.get_xdata()) > 0]
        patches = [
            p
            for p in ax.patches
            if p.get_visible()
            and p.get_window_extent(renderer).width * p.get_window_extent(renderer).height > 0
        ]
        collections = [c for c in ax.collections if c.get_visible() and _collection_has_data(c)]
        images = [i for i in ax.images if i.get_visible()]
        ticks: dict[str, list[list[float]]] = {}
        outlines: dict[str, list[list[list[float]]]] = {}
        for name, labels, along in (("x", ax.get_xticklabels(), 0), ("y", ax.get_yticklabels(), 1)):
            lo, hi = (ax_box.x0, ax_box.x1) if along == 0 else (ax_box.y0, ax_box.y1)
            boxes, corners = [], []
            for label in labels:
                if not label.get_visible() or not label.get_text().strip():
                    continue
                bb = label.get_window_extent(renderer)
                centre = (bb.x0 + bb.x1) / 2 if along == 0 else (bb.y0 + bb.y1) / 2
                if lo - 1 <= centre <= hi + 1:
                    boxes.append(_box(bb, height))
                    corners.append(_outline(label, bb, renderer, height))
            ticks[name] = boxes[:200]
            outlines[name] = corners[:200]
        texts = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        text_boxes = [
            _box(t.get_window_extent(renderer), height)
            for t in texts
            if t.get_visible() and t.get_text().strip()
        ]
        clipped = sum(_outside(b, width, height) for b in text_boxes + ticks["x"] + ticks["y"])
        clipped_total += clipped
        entry: dict[str, Any] = {
            "box": _box(ax_box, height),
            "has_data": bool(lines or patches or collections or images),
            "n_lines": len(lines),
            "n_patches": len(patches),
            "n_collections": len(collections),
            "n_images": len(images),
            "n_texts": len([t for t in ax.texts if t.get_visible()]),
            "n_points": int(
                sum(len(ln.get_xdata()) for ln in lines) + sum(len(c.get_offsets()) for c in collections)
            ),
            "title": ax.get_title() or ax.get_title("left") or ax.get_title("right"),
            "xlabel": ax.get_xlabel(),
            "ylabel": ax.get_ylabel(),
            "xlim": [float(v) for v in ax.get_xlim()] if ax.name == "rectilinear" else None,
            "ylim": [float(v) for v in ax.get_ylim()] if ax.name == "rectilinear" else None,
            "projection": ax.name,
            "xtick_labels": ticks["x"],
            "ytick_labels": ticks["y"],
            "xtick_outlines": outlines["x"],
            "ytick_outlines": outlines["y"],
            "xtick_overlaps": _count_overlaps(ticks["x"]),
            "ytick_overlaps": _count_overlaps(ticks["y"]),
            "clipped_labels": clipped,
            "legend": None,
        }
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            lb = legend.get_window_extent(renderer)
            covered = 0
            for ln in lines:
                xy = ln.get_transform().transform(np.asarray(ln.get_xydata(), dtype=float)[:5000])
                covered += int(
                    np.sum(
                        (xy[:, 0] >= lb.x0) & (xy[:, 0] <= lb.x1) & (xy[:, 1] >= lb.y0) & (xy[:, 1] <= lb.y1)
                    )
                )
            for c in collections:
                offsets = np.asarray(c.get_offsets(), dtype=float)[:5000]
                if len(offsets):
                    xy = c.get_offset_transform().transform(offsets)
                    covered += int(
                        np.sum(
                            (xy[:, 0] >= lb.x0)
                            & (xy[:, 0] <= lb.x1)
                            & (xy[:, 1] >= lb.y0)
                            & (xy[:, 1] <= lb.y1)
                        )
                    )
            covered += sum(p.get_window_extent(renderer).overlaps(lb) for p in patches)
            entry["legend"] = {
                "box": _box(lb, height),
                "n_entries": len(legend.get_texts()),
                "covered_data": covered,
            }
        axes_out.append(entry)
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    return {
        "library": "matplotlib",
        "width": width,
        "height": height,
        "dpi": float(fig.dpi),
        "suptitle": suptitle,
        "n_axes": len(axes_out),
        "n_axes_with_data": sum(a["has_data"] for a in axes_out),
        "clipped_labels": clipped_total,
        "figure_legends": len(fig.legends),
        "axes": axes_out,
    }


_POINT_KEYS = (
    "x",
    "y",
    "z",
    "values",
    "labels",
    "lat",
    "lon",
    "r",
    "theta",
    "locations",
    "ids",
    "a",
    "b",
    "open",
    "dimensions",
    "cells",
)


def plotly_layout(fig: Any) -> dict[str, Any]:
    """Trace count, trace types and sizes, titles and the layout (without its template)."""
    data = fig.to_plotly_json()
    layout = {k: v for k, v in data.get("layout", {}).items() if k != "template"}
    traces = []
    for trace in data.get("data", []):
        points = max((_array_length(trace.get(key)) for key in _POINT_KEYS), default=0)
        traces.append({"type": trace.get("type", "scatter"), "name": trace.get("name"), "points": points})

    def title(obj: Any) -> str:
        t = obj.get("title") if isinstance(obj, dict) else None
        return (t.get("text") or "") if isinstance(t, dict) else (t or "")

    layout_json = json.loads(json.dumps(layout, default=jsonable))
    return {
        "library": "plotly",
        "width": layout.get("width") or 700,
        "height": layout.get("height") or 500,
        "title": title(layout),
        "xaxis_title": title(layout.get("xaxis", {})),
        "yaxis_title": title(layout.get("yaxis", {})),
        "n_traces": len(traces),
        "n_traces_with_data": sum(t["points"] > 0 for t in traces),
        "traces": traces[:100],
        **_plotly_geometry_or_none(data.get("data", []), layout),
        "layout": layout_json,
    }


def _plotly_geometry_or_none(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    """``_plotly_geometry``, or no geometry (with the reason) when a figure defeats the estimate."""
    try:
        return _plotly_geometry(data, layout)
    except Exception as exc:  # an estimate must never fail a figure that drew
        return {"plot_box": None, "n_points": 0, "legend": None, "geometry_error": _error_line(exc)[:200]}


def _plotly_geometry(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    """Estimated plot area, legend box and the data the legend hides, in PNG pixels (origin top left).

    plotly.js lays the figure out in the browser; this reproduces its defaults (margins, legend position
    and anchors, autorange) closely enough to tell a legend over the data from one beside it. Returns
    ``{"plot_box": [x, y, w, h], "n_points": n, "legend": {"box", "n_entries", "covered_data",
    "estimated": True} | None}``; ``n_points`` counts markers/vertices of cartesian scatter traces and bars.
    """
    import numpy as np

    width, height = float(layout.get("width") or 700), float(layout.get("height") or 500)
    margin = layout.get("margin") or {}
    left, right = float(margin.get("l", 80)), float(margin.get("r", 80))
    top, bottom = float(margin.get("t", 100)), float(margin.get("b", 80))
    x0, x1, y0, y1 = left, max(left + 1, width - right), top, max(top + 1, height - bottom)
    slider = (layout.get("xaxis") or {}).get("rangeslider") or {}
    if slider.get("visible"):  # the range slider and its tick labels sit below the main plot
        y1 = max(y0 + 1, y1 - float(slider.get("thickness") or 0.15) * (y1 - y0) - 30)
    out: dict[str, Any] = {"plot_box": [x0, y0, x1 - x0, y1 - y0], "n_points": 0, "legend": None}

    # data positions in paper coordinates (0..1 over the plot area), per cartesian trace
    def axis(name: str) -> dict[str, Any]:
        return layout.get(f"{name[0]}axis{name[1:]}") or {}

    cart = [
        t
        for t in data
        if t.get("type", "scatter") in ("scatter", "scattergl", "bar") and t.get("visible", True) is True
    ]
    values: dict[str, list[Any]] = {}
    for t in cart:
        for key in ("x", "y"):
            values.setdefault(t.get(f"{key}axis") or key, []).append(_plain(t.get(key)))
    scale: dict[str, tuple[Any, float, float, float, float]] = {}
    for name, arrays in values.items():
        spec = axis(name)
        ref = axis(spec["overlaying"]) if isinstance(spec.get("overlaying"), str) else spec
        dom = ref.get("domain") or spec.get("domain") or [0, 1]
        conv = _axis_converter([a for a in arrays if a is not None], spec.get("type"))
        nums = np.concatenate([conv(a) for a in arrays if a is not None] or [np.zeros(0)])
        nums = nums[np.isfinite(nums)]
        rng = spec.get("range")
        if rng and len(rng) == 2 and spec.get("autorange") is not True:
            lo, hi = (_range_end(conv, v) for v in rng)
        elif len(nums):
            lo, hi = float(nums.min()), float(nums.max())
            if name[0] == "y" and any(t.get("type") == "bar" for t in cart):
                lo, hi = min(lo, 0.0), max(hi, 0.0)
            pad = 0.05 * (hi - lo) or 0.5
            lo, hi = lo - pad, hi + pad
        else:
            continue
        if np.isfinite(lo) and np.isfinite(hi) and hi != lo:
            scale[name] = (conv, float(lo), float(hi), float(dom[0]), float(dom[1]))

    def to_px(name: str, arr: Any, horizontal: bool) -> Any:
        conv, lo, hi, d0, d1 = scale[name]
        paper = d0 + (conv(arr) - lo) / (hi - lo) * (d1 - d0)
        return x0 + paper * (x1 - x0) if horizontal else y1 - paper * (y1 - y0)

    points, bars = [], []
    n_bar_traces = sum(t.get("type") == "bar" for t in cart)
    for t in cart:
        xa, ya = t.get("xaxis") or "x", t.get("yaxis") or "y"
        if xa not in scale or ya not in scale or t.get("x") is None or t.get("y") is None:
            continue
        px, py = to_px(xa, _plain(t["x"]), True), to_px(ya, _plain(t["y"]), False)
        n = min(len(px), len(py))
        px, py = px[:n], py[:n]
        if t.get("type") == "bar":
            if t.get("orientation") == "h":
                continue  # horizontal bars: not estimated
            step = float(np.min(np.diff(np.unique(px)))) if len(np.unique(px)) > 1 else (x1 - x0) * 0.5
            half = 0.4 * step / max(1, n_bar_traces if layout.get("barmode", "group") == "group" else 1)
            base = to_px(ya, [0.0], False)[0]
            bars.append(np.stack([px - half, np.minimum(py, base), px + half, np.maximum(py, base)], axis=1))
        else:
            points.append(np.stack([px, py], axis=1))
    pts = np.concatenate(points) if points else np.zeros((0, 2))
    rects = np.concatenate(bars) if bars else np.zeros((0, 4))
    out["n_points"] = int(len(pts) + len(rects))

    legend = layout.get("legend") or {}
    entries = []
    for t in data:
        if t.get("type") in ("pie", "funnelarea"):
            labels = _plain(t.get("labels"))
            if labels is not None:
                entries += list(dict.fromkeys(str(v) for v in np.asarray(labels, dtype=object).ravel()))
        elif t.get("showlegend", True) is not False and t.get("visible", True) is not False:
            entries.append(str(t.get("name") or "trace"))
    shown = layout.get("showlegend")
    if not (
        shown
        if shown is not None
        else (len(data) > 1 or any(t.get("type") in ("pie", "funnelarea") for t in data))
    ):
        return out
    if not entries or legend.get("visible") is False:
        return out
    font = float((legend.get("font") or {}).get("size") or (layout.get("font") or {}).get("size") or 12)
    border = float(legend.get("borderwidth") or 0)
    item_h = 1.3 * font + 6
    item_w = [40 + 0.5 * font * len(_strip_tags(e)) for e in entries[:200]]
    title_h = item_h if (legend.get("title") or {}).get("text") else 0.0
    horizontal = legend.get("orientation") == "h"
    if horizontal:
        per_row = max(1.0, width - 20)
        rows = max(1, int(np.ceil(sum(item_w) / per_row)))
        w, h = min(sum(item_w), per_row) + 10 + 2 * border, rows * item_h + title_h + 10 + 2 * border
    else:
        w, h = max(item_w) + 10 + 2 * border, len(item_w) * item_h + title_h + 10 + 2 * border
    lx = float(legend.get("x", 0 if horizontal else 1.02))
    ly = float(legend.get("y", (1.1 if slider.get("visible") else -0.1) if horizontal else 1))
    xanchor = legend.get("xanchor") or "left"
    yanchor = legend.get("yanchor") or ("top" if horizontal and "y" not in legend and ly < 0 else "auto")
    if xanchor == "auto":
        xanchor = "right" if lx >= 2 / 3 else ("left" if lx <= 1 / 3 else "center")
    if yanchor == "auto":
        yanchor = "top" if ly >= 2 / 3 else ("bottom" if ly <= 1 / 3 else "middle")
    ax_ = lx * width if legend.get("xref") == "container" else x0 + lx * (x1 - x0)
    ay_ = (1 - ly) * height if legend.get("yref") == "container" else y1 - ly * (y1 - y0)
    bx = ax_ - {"left": 0.0, "center": w / 2, "right": w}[xanchor]
    by = ay_ - {"top": 0.0, "middle": h / 2, "bottom": h}[yanchor]
    covered = int(
        np.sum((pts[:, 0] >= bx) & (pts[:, 0] <= bx + w) & (pts[:, 1] >= by) & (pts[:, 1] <= by + h))
        + np.sum((rects[:, 0] < bx + w) & (rects[:, 2] > bx) & (rects[:, 1] < by + h) & (rects[:, 3] > by))
    )
    out["legend"] = {
        "box": [round(bx, 1), round(by, 1), round(w, 1), round(h, 1)],
        "n_entries": len(entries),
        "covered_data": covered,
        "estimated": True,
    }
    return out


def _plain(value: Any) -> Any:
    """A plotly data array as a list/ndarray (decoding plotly 6's {"dtype", "bdata", "shape"})."""
    if isinstance(value, dict) and "bdata" in value:
        import numpy as np

        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value.get("dtype", "f8")))
    return value


def _axis_converter(arrays: list[Any], axis_type: str | None) -> Any:
    """A function mapping an axis's values to floats: numbers (log10 on log axes), dates (ns) or categories."""
    import numpy as np

    def number(a: Any) -> Any:
        arr = np.asarray(a)
        if arr.dtype.kind == "M":
            return arr.astype("datetime64[ns]").astype("int64").astype(float)
        return arr.astype(float)

    def date(a: Any) -> Any:
        return np.asarray(a, dtype="datetime64[ns]").astype("int64").astype(float)

    for conv in (number, date):
        try:
            for a in arrays:
                conv(a)
        except (TypeError, ValueError, OverflowError):
            continue
        if conv is number and axis_type == "log":
            return lambda a: np.log10(np.where(number(a) > 0, number(a), np.nan))
        return conv
    order: dict[str, int] = {}
    for a in arrays:
        for v in np.asarray(a, dtype=object).ravel():
            order.setdefault(str(v), len(order))
    return lambda a: np.array(
        [order.get(str(v), np.nan) for v in np.asarray(a, dtype=object).ravel()], dtype=float
    )


def _range_end(conv: Any, value: Any) -> float:
    """One end of an axis ``range`` as a float on ``conv``'s scale (category ranges are positions already)."""
    try:
        end = float(conv([value])[0])
    except (TypeError, ValueError, OverflowError):
        end = float("nan")
    if end != end:
        try:
            end = float(value)
        except (TypeError, ValueError):
            pass
    return end


def _strip_tags(text: str) -> str:

    return re.sub(r"<[^>]*>", "", text)


def _array_length(value: Any) -> int:
    """Length of a plotly data array: a list, a numpy array, or plotly 6's {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        import numpy as np

        shape = value.get("shape")
        if shape:
            return (
                int(np.prod([int(n) for n in str(shape).split(",")]))
                if isinstance(shape, str)
                else int(np.prod(shape))
            )
        return len(base64.b64decode(value["bdata"])) // np.dtype(value.get("dtype", "f8")).itemsize
    if value is None or isinstance(value, (str, dict)) or not hasattr(value, "__len__"):
        return 0
    return len(value)


def jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
