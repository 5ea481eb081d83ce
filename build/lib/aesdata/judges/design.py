"""Built-in static design judge: offline, deterministic, explainable; a 0..100 score shaped like OpenDesign.

Three entry points, one scoring model:

- ``judge_page(layout, screenshot_png, ...)``: a rendered HTML page (the renderer's ``layout_json`` plus the
  full-page PNG; optionally axe-core's contrast violations and the in-page probe).
- ``judge_screenshot(png)``: a screenshot alone (pixel measures only), e.g. of an existing site.
- ``judge_plot(figure, screenshot_png)``: a rendered plot (the sandbox's figure description plus the PNG).

Each check gives a score in 0..1, a weight, a group (``aesthetics`` or ``structure``) and, when it finds
a defect, a human-readable finding ("4 text blocks below 4.5:1 contrast", "button overlaps heading").
Group scores are weighted means scaled to 30 points each, as in the OpenDesign rubric. Alignment with the
instruction (40 points there) is not measured by this judge: the total is (aesthetics + structure)
rescaled to 0..100, and ``subscores["alignment"]`` is None with the reason in ``subscores["not_measured"]``.
Checks that cannot run in a mode (contrast from a screenshot) are listed there too and left out of the
weights rather than guessed. A plot is read through its tick labels and its legend: when either is
unreadable (labels piled on each other, a legend over a large share of the data) the plot is not "good"
(OpenDesign's bar, 75) however clean the rest is, so these readability checks cap the total at
50 + 50 * their score (``subscores["capped_by"]`` names the check); their scores grow with the defect's
severity (the share of labels or data points affected), not a flat count.
A page is also judged for styling effort, not only for defects: the browser's default or stock web-safe
fonts, default line spacing, over-long lines, text against the viewport edge, default link blue and a plain
palette lower the aesthetics sub-score (``check_typeface``, ``check_readability``, ``check_styling``).

Written by hand (no library scores page designs): the check formulas and weights below; WCAG contrast
uses the standard relative-luminance formula (axe-core's result is preferred when given).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aesdata.judges import pixels

JUDGE_ID = "design@3"
#: share of a plot's data points under its legend at which the legend check reaches 0
LEGEND_HIDES_ALL = 0.2
#: share of one axis's tick labels overlapping another at which the tick label check reaches 0
TICKS_UNREADABLE = 0.6

_RGB = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)")
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
_CONTROLS = {"button", "a", "input", "select", "textarea"}
_MEDIA = {"img", "canvas", "svg", "video", "iframe", "picture"}
#: families a page gets without choosing a typeface: the browser default (Times) and the stock web-safe fonts
_DEFAULT_FONTS = {"times new roman", "times", "serif"}
_STOCK_FONTS = _DEFAULT_FONTS | {
    "arial",
    "helvetica",
    "verdana",
    "tahoma",
    "trebuchet ms",
    "comic sans ms",
    "courier new",
    "courier",
    "monospace",
    "sans-serif",
    "cursive",
    "fantasy",
}
#: block tags whose box height measures their line spacing (one line) or line length (wrapped text)
_PROSE = {"p", "li", "dd", "summary", "blockquote", "figcaption"}
#: the user-agent link colours (unvisited, visited)
_UA_LINKS = {(0.0, 0.0, 238.0), (85.0, 26.0, 139.0)}
#: SVG text (chart tick labels): set by the charting library, not a typeface choice of the page
_SVG_TEXT = {"text", "tspan"}


@dataclass
class Check:
    """One measured check: ``score`` 0..1 (1 = no defect), its ``weight`` and ``group``, findings and metrics."""

    name: str
    group: str
    weight: float
    score: float
    findings: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    caps_total: bool = False  # a readability check: the total is at most 50 + 50 * score (see _combine)


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
                "metrics": c.metrics,
            }
            for c in self.checks
        ]


# ---------------------------------------------------------------------------------------------- helpers
def parse_color(value: str | None) -> tuple[float, float, float, float] | None:
    """Parse ``rgb(r,g,b)`` / ``rgba(r,g,b,a)`` / ``#rrggbb`` into (r, g, b, alpha); None when unparsable."""
    if not value:
        return None
    m = _RGB.search(value)
    if m:
        alpha = m.group(4)
        a = 1.0 if alpha is None else (float(alpha[:-1]) / 100 if alpha.endswith("%") else float(alpha))
        return float(m.group(1)), float(m.group(2)), float(m.group(3)), a
    if value.startswith("#") and len(value) in (4, 7):
        h = value[1:] if len(value) == 7 else "".join(c * 2 for c in value[1:])
        return float(int(h[0:2], 16)), float(int(h[2:4], 16)), float(int(h[4:6], 16)), 1.0
    return None


def _blend(
    fg: tuple[float, float, float, float], bg: tuple[float, float, float]
) -> tuple[float, float, float]:
    a = fg[3]
    return (fg[0] * a + bg[0] * (1 - a), fg[1] * a + bg[1] * (1 - a), fg[2] * a + bg[2] * (1 - a))


def _luminance(rgb: tuple[float, float, float]) -> float:
    def ch(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * ch(rgb[0]) + 0.7152 * ch(rgb[1]) + 0.0722 * ch(rgb[2])


def contrast_ratio(fg: tuple[float, float, float], bg: tuple[float, float, float]) -> float:
    """WCAG 2 contrast ratio of two opaque sRGB colours (1..21)."""
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def describe(el: dict[str, Any]) -> str:
    """Human name of a layout element: its role and a few words of its text, e.g. ``button "Buy now"``."""
    tag = str(el.get("tag", "")).lower()
    role = _ROLE.get(tag, tag or "element")
    text = " ".join(str(el.get("text") or "").split())
    return f'{role} "{text[:24]}{"..." if len(text) > 24 else ""}"' if text else role


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _band(value: float, lo: float, hi: float, soft: float) -> float:
    """1 inside [lo, hi], falling linearly to 0 at ``soft`` (relative) outside it."""
    if lo <= value <= hi:
        return 1.0
    edge = lo if value < lo else hi
    return max(0.0, 1.0 - abs(value - edge) / max(abs(edge) * soft, 1e-9))


def load_layout(layout_json: str | list | dict | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Split the renderer's ``layout_json`` into (elements, document facts).

    Accepts a list of elements, or an object with the elements under ``elements``/``nodes`` and document
    facts (``doc_w``, ``doc_h``, ``viewport``...) beside them or under ``document``/``doc``.
    """
    data = json.loads(layout_json) if isinstance(layout_json, str) else layout_json
    if data is None:
        return [], {}
    if isinstance(data, list):
        return [e for e in data if isinstance(e, dict) and "tag" in e], {}
    elements = data.get("elements") or data.get("nodes") or []
    doc = {k: v for k, v in data.items() if k not in ("elements", "nodes")}
    for key in ("document", "doc"):
        if isinstance(doc.get(key), dict):
            doc.update(doc.pop(key))
    return [e for e in elements if isinstance(e, dict)], doc


def _doc_size(
    doc: dict[str, Any], elements: list[dict[str, Any]], viewport: tuple[int, int]
) -> tuple[float, float]:
    for wk, hk in (("doc_w", "doc_h"), ("width", "height"), ("w", "h"), ("scroll_width", "scroll_height")):
        if wk in doc and hk in doc:
            return float(doc[wk]), float(doc[hk])
    right = max((e["x"] + e["w"] for e in elements), default=viewport[0])
    bottom = max((e["y"] + e["h"] for e in elements), default=viewport[1])
    return max(viewport[0], right), max(viewport[1], bottom)


# ------------------------------------------------------------------------------------------ layout checks
def check_contrast(elements: list[dict[str, Any]], axe: list[dict[str, Any]] | None) -> Check:
    """WCAG AA text contrast: 4.5:1, or 3:1 for large text (>= 24 px, or >= 18.66 px bold).

    Uses axe-core's violations when given (they account for backgrounds the layout cannot see); otherwise
    computes the ratio of each text element's colour over its effective background from the layout.
    """
    texts = [e for e in elements if str(e.get("text") or "").strip()]
    failing: list[tuple[str, float]] = []
    if axe is not None:
        failing = [(str(v.get("text") or v.get("selector")), float(v.get("ratio") or 1)) for v in axe]
        source = "axe-core"
    else:
        source = "layout"
        for el in texts:
            fg, bg = parse_color(el.get("color")), parse_color(el.get("bg"))
            if fg is None or bg is None:
                continue
            bg_rgb = _blend(bg, (255.0, 255.0, 255.0))
            ratio = contrast_ratio(_blend(fg, bg_rgb), bg_rgb)
            size = float(el.get("font_size") or 16)
            bold = (
                str(el.get("font_weight") or "400") in ("bold", "bolder")
                or float(re.sub(r"\D", "", str(el.get("font_weight") or "400")) or 400) >= 700
            )
            need = 3.0 if size >= 24 or (bold and size >= 18.66) else 4.5
            if ratio < need - 1e-6:
                failing.append((describe(el), ratio))
    n = len(failing)
    share = n / max(len(texts), 1)
    score = (1.0 / (1.0 + 0.35 * n)) * (1.0 - 0.5 * min(share, 1.0)) if n else 1.0
    findings = []
    if n:
        worst = min(failing, key=lambda f: f[1])
        findings.append(
            f"{_plural(n, 'text block')} below 4.5:1 contrast (worst {worst[1]:.1f}:1: {worst[0][:40]})"
        )
    return Check(
        "contrast",
        "aesthetics",
        3.0,
        score,
        findings,
        {"failing": n, "text_blocks": len(texts), "source": source},
    )


def _boxes(elements: list[dict[str, Any]]) -> np.ndarray:
    return np.array(
        [[e["x"], e["y"], e["x"] + e["w"], e["y"] + e["h"]] for e in elements], dtype=np.float64
    ).reshape(-1, 4)


def _nested(elements: list[dict[str, Any]], outer: int, inner: int, tol: float = 2.0) -> bool:
    """Whether element ``inner`` (inside ``outer``'s box) is plausibly its descendant.

    The layout lists elements in document order, where a subtree is contiguous: ``inner`` can be a
    descendant only if it comes after ``outer`` and every element between them also lies inside ``outer``.
    """
    if inner <= outer:
        return False
    o = elements[outer]
    x0, y0, x1, y1 = o["x"] - tol, o["y"] - tol, o["x"] + o["w"] + tol, o["y"] + o["h"] + tol
    return all(
        e["x"] >= x0 and e["y"] >= y0 and e["x"] + e["w"] <= x1 and e["y"] + e["h"] <= y1
        for e in elements[outer + 1 : inner]
        if e.get("w", 0) > 0 and e.get("h", 0) > 0
    )


def check_overlap(elements: list[dict[str, Any]], limit: int = 400) -> Check:
    """Text or controls covering each other (>= 20% of the smaller box).

    A box inside another is nesting (a link inside a paragraph), not overlap, when document order allows
    it (see ``_nested``); a button placed over a heading is not. Media (images, canvas) are left out
    since text over a hero image is a design choice.
    """
    index = [
        i
        for i, e in enumerate(elements)
        if e.get("w", 0) > 2
        and e.get("h", 0) > 2
        and str(e.get("tag", "")).lower() not in _MEDIA
        and (str(e.get("text") or "").strip() or str(e.get("tag", "")).lower() in _CONTROLS)
    ][:limit]
    items = [elements[i] for i in index]
    pairs: list[tuple[int, int]] = []
    if len(items) > 1:
        b = _boxes(items)
        ix = np.clip(
            np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None
        )
        iy = np.clip(
            np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None
        )
        inter = ix * iy
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        smaller = np.minimum(area[:, None], area[None, :])
        tol = 2.0
        a_in_b = (
            (b[:, None, 0] >= b[None, :, 0] - tol)
            & (b[:, None, 1] >= b[None, :, 1] - tol)
            & (b[:, None, 2] <= b[None, :, 2] + tol)
            & (b[:, None, 3] <= b[None, :, 3] + tol)
        )
        hit = inter >= 0.2 * smaller
        ii, jj = np.nonzero(np.triu(hit, 1))
        for i, j in zip(ii.tolist(), jj.tolist(), strict=False):
            if a_in_b[j, i] and _nested(elements, index[i], index[j]):
                continue
            if a_in_b[i, j] and _nested(elements, index[j], index[i]):
                continue
            pairs.append((i, j))
    n = len(pairs)
    findings = [f"{describe(items[i])} overlaps {describe(items[j])}" for i, j in pairs[:3]]
    if n > 3:
        findings.append(f"{n - 3} more overlapping pairs")
    return Check("overlap", "structure", 3.0, 1.0 / (1.0 + 0.6 * n), findings, {"overlapping_pairs": n})


def check_overflow(elements: list[dict[str, Any]], doc_w: float, viewport_w: float) -> Check:
    """Horizontal overflow: the document is wider than the viewport, or text sticks out of the page / its box."""
    over = max(0.0, doc_w - viewport_w)
    outside = [
        e
        for e in elements
        if str(e.get("text") or "").strip()
        and (e["x"] < -1 or e["x"] + e["w"] > viewport_w + 1)
        and e.get("w", 0) > 0
    ]
    clipped = [e for e in elements if e.get("overflow_x") and str(e.get("text") or "").strip()]
    findings = []
    if over > 1:
        findings.append(
            f"page scrolls horizontally ({over:.0f}px wider than the {viewport_w:.0f}px viewport)"
        )
    if outside:
        findings.append(
            f"{_plural(len(outside), 'text block')} outside the viewport, e.g. {describe(outside[0])}"
        )
    if clipped:
        findings.append(
            f"{_plural(len(clipped), 'element')} with clipped or overflowing text, e.g. {describe(clipped[0])}"
        )
    score = (1.0 / (1.0 + 0.5 * len(outside) + 0.3 * len(clipped))) * (
        1.0 if over <= 1 else max(0.2, 0.6 - over / viewport_w)
    )
    return Check(
        "overflow",
        "structure",
        2.5,
        score,
        findings,
        {"overflow_px": over, "outside": len(outside), "clipped": len(clipped)},
    )


def check_alignment(elements: list[dict[str, Any]]) -> Check:
    """Grid alignment: share of text/control/media blocks whose left edge, centre or right edge lines up
    (within 2 px) with another block's."""
    blocks = [
        e
        for e in elements
        if e.get("w", 0) >= 24
        and e.get("h", 0) >= 8
        and (str(e.get("text") or "").strip() or str(e.get("tag", "")).lower() in _CONTROLS | _MEDIA)
    ]
    if len(blocks) < 3:
        return Check("alignment", "structure", 1.0, 1.0, [], {"blocks": len(blocks), "aligned_share": None})
    b = _boxes(blocks)
    aligned = np.zeros(len(blocks), dtype=bool)
    for col in (b[:, 0], (b[:, 0] + b[:, 2]) / 2, b[:, 2]):
        close = np.abs(col[:, None] - col[None, :]) <= 2.0
        np.fill_diagonal(close, False)
        aligned |= close.any(axis=1)
    share = float(aligned.mean())
    score = min(1.0, share / 0.8)
    findings = [f"only {share:.0%} of blocks share an edge with another block"] if score < 0.75 else []
    return Check(
        "alignment",
        "structure",
        1.0,
        score,
        findings,
        {"blocks": len(blocks), "aligned_share": round(share, 3)},
    )


def check_typography(elements: list[dict[str, Any]]) -> Check:
    """Typographic scale and fonts: 2..7 text sizes, <= 3 families, body text >= 12 px, headings above body."""
    texts = [e for e in elements if str(e.get("text") or "").strip() and e.get("font_size")]
    if not texts:
        return Check("typography", "aesthetics", 1.5, 1.0, [], {"sizes": 0, "families": 0})
    sizes = sorted({round(float(e["font_size"])) for e in texts})
    families = {str(e.get("font_family") or "").split(",")[0].strip().strip("\"'").lower() for e in texts} - {
        ""
    }
    tiny = [e for e in texts if float(e["font_size"]) < 11.5 and len(str(e.get("text") or "")) > 12]
    body = float(
        np.median(
            [
                float(e["font_size"])
                for e in texts
                if str(e.get("tag", "")).lower() in ("p", "li", "span", "td", "div")
            ]
            or [16.0]
        )
    )
    heads = [float(e["font_size"]) for e in texts if re.fullmatch(r"h[1-3]", str(e.get("tag", "")).lower())]
    findings, score = [], 1.0
    if len(sizes) > 7:
        score *= max(0.3, 1 - 0.08 * (len(sizes) - 7))
        findings.append(f"{len(sizes)} different font sizes (a scale of 3-7 reads calmer)")
    if len(families) > 3:
        score *= max(0.3, 1 - 0.15 * (len(families) - 3))
        findings.append(f"{len(families)} font families: {', '.join(sorted(families)[:5])}")
    if tiny:
        score *= 1.0 / (1.0 + 0.25 * len(tiny))
        findings.append(f"{_plural(len(tiny), 'text block')} set below 12px")
    if heads and max(heads) <= body:
        score *= 0.7
        findings.append("headings are not larger than body text")
    return Check(
        "typography",
        "aesthetics",
        1.5,
        score,
        findings,
        {"sizes": len(sizes), "families": len(families), "tiny": len(tiny), "body_px": body},
    )


def check_layout_palette(elements: list[dict[str, Any]]) -> Check:
    """Palette from the layout: distinct text and background colours (quantised); > 12 reads as noisy."""
    colors = set()
    for e in elements:
        for key in ("color", "bg"):
            c = parse_color(e.get(key))
            if c and c[3] > 0.05:
                colors.add(tuple(int(v) // 24 for v in c[:3]))
    n = len(colors)
    score = 1.0 if n <= 12 else max(0.3, 1 - 0.05 * (n - 12))
    findings = [f"{n} distinct text/background colours"] if n > 12 else []
    return Check("layout_palette", "aesthetics", 0.5, score, findings, {"colors": n})


def _families(el: dict[str, Any]) -> list[str]:
    return [f.strip().strip("\"'").lower() for f in str(el.get("font_family") or "").split(",") if f.strip()]


def _text_len(el: dict[str, Any]) -> int:
    return len(str(el.get("text") or "").strip())


def check_typeface(elements: list[dict[str, Any]]) -> Check:
    """Typeface choice, weighted by characters of text: the browser default (Times New Roman) scores 0.2,
    a stack made only of stock web-safe fonts (``Arial, sans-serif``, ``Tahoma``, ``monospace``) 0.5."""
    texts = [e for e in elements if _text_len(e) and str(e.get("tag", "")).lower() not in _SVG_TEXT]
    chars = sum(_text_len(e) for e in texts)
    if chars < 10:
        return Check("typeface", "aesthetics", 2.5, 1.0, [], {"default_share": None, "stock_share": None})
    default = [e for e in texts if (_families(e) or ["times new roman"])[0] in _DEFAULT_FONTS]
    stock = [e for e in texts if set(_families(e) or ["times new roman"]) <= _STOCK_FONTS]
    d = sum(_text_len(e) for e in default) / chars
    s = sum(_text_len(e) for e in stock) / chars
    findings = []
    if d >= 0.2:
        findings.append(f"browser default font (Times New Roman) for {d:.0%} of text")
    if s - d >= 0.2:
        names = sorted({_families(e)[0] for e in stock if e not in default})
        findings.append(f"only stock web-safe fonts ({', '.join(names[:3])}) for {s - d:.0%} of text")
    return Check(
        "typeface",
        "aesthetics",
        2.5,
        max(0.0, 1.0 - 0.8 * d - 0.5 * (s - d)),
        findings,
        {"default_share": round(d, 3), "stock_share": round(s, 3)},
    )


def check_readability(elements: list[dict[str, Any]]) -> Check:
    """Line spacing and line length of prose (paragraphs, list items).

    A one-line block's height over its font size is its line spacing: the browser's ``normal`` (~1.13 for
    the stock fonts) means nobody set it; at 1.18 and above it is full marks. A wrapped block's width over
    half its font size estimates its characters per line; more than 90 is hard to read (as is a single
    line over 110 characters).
    """
    spacing: list[float] = []
    lines: list[tuple[float, int]] = []
    for e in elements:
        n, fs = _text_len(e), float(e.get("font_size") or 0)
        if not n or fs <= 0 or str(e.get("tag", "")).lower() not in _PROSE:
            continue
        one_line = n * 0.5 * fs
        if one_line > 1.05 * e["w"] or e["h"] > 2.2 * fs:
            lines.append((e["w"] / (0.5 * fs), n))
        else:
            lines.append((float(n), n) if n > 110 else (0.0, n))
            if one_line < 0.9 * e["w"] and e["h"] > 0:
                spacing.append(e["h"] / fs)
    findings = []
    lh = float(np.median(spacing)) if spacing else None
    tight = 0.0 if lh is None else min(1.0, max(0.0, (1.18 - lh) / 0.05))
    if tight > 0.5:
        findings.append(f"default line spacing ({lh:.2f}x the font size) in body text")
    chars = sum(n for _, n in lines)
    long = sum(n for c, n in lines if c > 90) / chars if chars else 0.0
    if long > 0:
        findings.append(f"lines of ~{max(c for c, _ in lines):.0f} characters: hard to read")
    score = (1.0 - 0.75 * tight) * (1.0 - 0.5 * min(1.0, long / 0.4))
    return Check(
        "readability",
        "aesthetics",
        2.5,
        score,
        findings,
        {
            "line_spacing": None if lh is None else round(lh, 3),
            "long_line_share": round(long, 3),
            "max_chars_per_line": round(max((c for c, _ in lines), default=0.0)),
        },
    )


def check_styling(
    elements: list[dict[str, Any]], viewport_w: float, colourfulness: float | None = None
) -> Check:
    """Signs of an unstyled page: text against the viewport edge (no margins), the browser's link blue,
    and a plain palette: no accent colour (no saturated text or background in the layout, and a nearly
    grey screenshot, colourfulness < 5, when ``colourfulness`` is given) and at most one background colour."""
    texts = [e for e in elements if _text_len(e)]
    chars = sum(_text_len(e) for e in texts) or 1
    edge = sum(_text_len(e) for e in texts if e["x"] < 16 or e["x"] + e["w"] > viewport_w - 4) / chars
    links = [e for e in texts if str(e.get("tag", "")).lower() == "a"]
    blue = [e for e in links if (parse_color(e.get("color")) or (0, 0, 0, 0))[:3] in _UA_LINKS]
    accent, backgrounds = False, set()
    for e in elements:
        for key in ("color", "bg"):
            c = parse_color(e.get(key))
            if c is None or c[3] < 0.5:
                continue
            if key == "bg":
                backgrounds.add(tuple(int(v) // 16 for v in c[:3]))
            _, sat, val = pixels.hsv(*(int(v) for v in c[:3]))
            accent |= sat >= 0.3 and val >= 0.25 and tuple(c[:3]) not in _UA_LINKS
    plain = bool(texts) and not accent and len(backgrounds) <= 1 and (colourfulness or 0.0) < 5.0
    findings = []
    if edge >= 0.1:
        findings.append(f"{edge:.0%} of text touches the viewport edge (no page margins)")
    if blue:
        findings.append(f"{_plural(len(blue), 'link')} in the browser's default blue")
    if plain:
        findings.append("plain palette: no accent colour or background structure")
    score = (
        (1.0 - 0.6 * min(1.0, edge / 0.3))
        * (1.0 - 0.5 * len(blue) / max(len(links), 1))
        * (0.6 if plain else 1.0)
    )
    return Check(
        "styling",
        "aesthetics",
        1.0,
        score,
        findings,
        {"edge_text_share": round(edge, 3), "default_links": len(blue), "plain_palette": plain},
    )


def check_broken_images(broken: list[dict[str, Any]] | None, elements: list[dict[str, Any]]) -> Check:
    """Images that failed to load (from the in-page probe, or ``broken`` flags in the layout)."""
    if broken is None:
        broken = [e for e in elements if str(e.get("tag", "")).lower() == "img" and e.get("broken")]
    n = len(broken)
    findings = [f"{_plural(n, 'broken image')}"] if n else []
    return Check("broken_images", "structure", 2.0, 1.0 / (1.0 + 0.7 * n), findings, {"broken": n})


# ------------------------------------------------------------------------------------------ pixel checks
def pixel_checks(rgb: np.ndarray) -> list[Check]:
    """Checks that need only pixels: blankness, empty regions, whitespace balance, palette, colourfulness,
    visual complexity."""
    checks: list[Check] = []
    _, dom_share = pixels.dominant_color(rgb)
    fg_share, imbalance = pixels.balance(rgb)
    blank_score = 1.0 if dom_share < 0.97 else max(0.0, (0.999 - dom_share) / 0.029)
    checks.append(
        Check(
            "blankness",
            "structure",
            3.0,
            blank_score,
            [f"page is nearly blank ({dom_share:.1%} one colour)"] if blank_score < 1 else [],
            {"dominant_share": round(dom_share, 4)},
        )
    )
    gap_share, runs = pixels.empty_bands(rgb)
    gap_score = 1.0 if gap_share <= 0.25 else max(0.0, 1 - (gap_share - 0.25) / 0.5)
    checks.append(
        Check(
            "empty_regions",
            "structure",
            1.0,
            gap_score,
            [f"{gap_share:.0%} of the page is empty gaps ({_plural(runs, 'gap')})"] if gap_score < 1 else [],
            {"gap_share": round(gap_share, 3), "gaps": runs},
        )
    )
    ws = _band(fg_share, 0.02, 0.65, 0.9) * (
        1.0 if imbalance <= 0.3 else max(0.3, 1 - (imbalance - 0.3) * 1.5)
    )
    ws_find = []
    if fg_share < 0.02:
        ws_find.append(f"sparse page: {fg_share:.0%} of pixels carry content")
    elif fg_share > 0.65:
        ws_find.append(f"crowded page: {fg_share:.0%} of pixels carry content, little whitespace")
    if imbalance > 0.3:
        ws_find.append(f"content leans to one side (imbalance {imbalance:.2f})")
    checks.append(
        Check(
            "whitespace",
            "structure",
            1.0,
            ws,
            ws_find,
            {"content_share": round(fg_share, 3), "imbalance": round(imbalance, 3)},
        )
    )
    pal = pixels.palette(rgb)
    pal_score = (1.0 if pal.hue_families <= 4 else max(0.3, 1 - 0.15 * (pal.hue_families - 4))) * (
        1.0 if len(pal.colors) <= 12 else max(0.4, 1 - 0.04 * (len(pal.colors) - 12))
    )
    pal_find = []
    if pal.hue_families > 4:
        pal_find.append(f"{pal.hue_families} hue families in the palette (2-4 read as harmonious)")
    if len(pal.colors) > 12:
        pal_find.append(f"{len(pal.colors)} major colours on screen")
    checks.append(
        Check(
            "palette",
            "aesthetics",
            1.5,
            pal_score,
            pal_find,
            {"major_colors": len(pal.colors), "hue_families": pal.hue_families},
        )
    )
    colour = pixels.colourfulness(rgb)
    c_score = (
        0.75 + 0.25 * min(colour / 15.0, 1.0)
        if colour < 15
        else (1.0 if colour <= 90 else max(0.4, 1 - (colour - 90) / 80))
    )
    checks.append(
        Check(
            "colourfulness",
            "aesthetics",
            1.0,
            c_score,
            [f"garish colours (colourfulness {colour:.0f})"] if colour > 90 else [],
            {"colourfulness": round(colour, 2)},
        )
    )
    edges = pixels.edge_density(rgb)
    e_score = _band(edges, 0.015, 0.22, 1.0)
    e_find = []
    if edges > 0.22:
        e_find.append(f"visually busy (edge density {edges:.2f})")
    elif edges < 0.015:
        e_find.append(f"visually empty (edge density {edges:.3f})")
    checks.append(Check("complexity", "aesthetics", 1.0, e_score, e_find, {"edge_density": round(edges, 4)}))
    return checks


# --------------------------------------------------------------------------------------------- scoring
def _combine(checks: list[Check], mode: str, not_measured: list[str]) -> DesignResult:
    groups: dict[str, float | None] = {}
    for group in ("aesthetics", "structure"):
        members = [c for c in checks if c.group == group]
        weight = sum(c.weight for c in members)
        groups[group] = round(30.0 * sum(c.weight * c.score for c in members) / weight, 3) if weight else None
    measured = [v for v in groups.values() if v is not None]
    total = 100.0 * sum(measured) / (30.0 * len(measured)) if measured else 0.0
    capping = [c for c in checks if c.caps_total]
    worst = min(capping, key=lambda c: c.score) if capping else None
    capped_by = None
    if worst is not None and total > 50.0 + 50.0 * worst.score:
        total, capped_by = 50.0 + 50.0 * worst.score, worst.name
    subscores: dict[str, Any] = {
        "aesthetics": groups["aesthetics"],
        "structure": groups["structure"],
        "alignment": None,
        "scale": "aesthetics 0..30 + structure 0..30, rescaled to 0..100",
        "not_measured": ["alignment (instruction match needs a VLM judge)", *not_measured],
        "checks": {c.name: round(c.score, 4) for c in checks},
    }
    if capped_by:
        subscores["capped_by"] = capped_by
    findings = [f for c in sorted(checks, key=lambda c: c.score) for f in c.findings]
    return DesignResult(round(total, 2), subscores, findings, checks, mode)


def judge_page(
    layout: str | list | dict | None,
    screenshot_png: bytes | None,
    viewport: tuple[int, int] = (1280, 800),
    axe_violations: list[dict[str, Any]] | None = None,
    probe: dict[str, Any] | None = None,
) -> DesignResult:
    """Score a rendered HTML page from its layout (``layout_json``) and full-page screenshot.

    ``axe_violations`` (``inpage.axe_contrast``) replaces the layout's contrast estimate; ``probe``
    (``inpage.probe``) adds broken images and the true document size.
    """
    elements, doc = load_layout(layout)
    elements = [e for e in elements if all(isinstance(e.get(k), (int, float)) for k in ("x", "y", "w", "h"))]
    if probe:
        doc = {**doc, "doc_w": probe.get("doc_w"), "doc_h": probe.get("doc_h")}
        viewport = (int(probe.get("vw") or viewport[0]), int(probe.get("vh") or viewport[1]))
    vp = doc.get("viewport")
    vw = float(
        doc.get("viewport_width")
        or doc.get("viewport_w")
        or (vp.get("width") if isinstance(vp, dict) else None)
        or viewport[0]
    )
    doc_w, _ = _doc_size(doc, elements, (int(vw), viewport[1]))
    checks = [
        check_contrast(elements, axe_violations),
        check_overlap(elements),
        check_overflow(elements, doc_w, vw),
        check_alignment(elements),
        check_typography(elements),
        check_layout_palette(elements),
        check_broken_images(probe.get("broken_images") if probe else None, elements),
        check_typeface(elements),
        check_readability(elements),
    ]
    not_measured = []
    colour = None
    if screenshot_png:
        shot = pixel_checks(pixels.decode(screenshot_png))
        colour = next(c.metrics["colourfulness"] for c in shot if c.name == "colourfulness")
        checks += shot
    else:
        not_measured.append("pixel checks (no screenshot)")
    checks.append(check_styling(elements, vw, colour))
    return _combine(checks, "page", not_measured)


def judge_screenshot(png: bytes) -> DesignResult:
    """Score a screenshot alone from pixel measures (contrast, overlap, typography are not measured)."""
    return _combine(
        pixel_checks(pixels.decode(png)),
        "screenshot",
        ["contrast, overlap, overflow, typography (need the page's layout)"],
    )


# ---------------------------------------------------------------------------------------------- plots
def plot_axes(figure: dict[str, Any]) -> list[dict[str, Any]]:
    """Normalise the plot sandbox's ``layout_json`` (``aesdata.render.plot_worker``) into a list of axes.

    Input: ``{"figures": [...]}`` where a matplotlib figure lists ``axes`` (``box`` [x, y, w, h] in
    pixels from the top left, ``has_data``, artist counts, ``n_points``, ``title``/``xlabel``/``ylabel``,
    ``xtick_labels``/``ytick_labels`` boxes, ``legend`` {``box``, ``covered_data``}) and a plotly figure
    gives ``n_traces_with_data``, titles and the sandbox's estimated ``plot_box``, ``n_points`` and
    ``legend``. Output per axes: ``{bbox: [x0, y0, x1, y1] | None, data: int, points: int, title, xlabel,
    ylabel, ticks: {x: n, y: n}, ticks_overlapping: {x: n, y: n}, tick_heights: [px], legend: [x0, y0, x1,
    y1] | None, legend_covered: int}``; ``points`` counts data points and bars (what a legend can hide), and
    ``ticks_overlapping`` the labels that overlap at least one other label of their axis. A plotly figure
    counts as one axes without tick boxes.
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
                }
            )
            continue
        for ax in fig.get("axes") or []:
            ticks = {"x": ax.get("xtick_labels") or [], "y": ax.get("ytick_labels") or []}
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
                    "ticks_overlapping": {k: _overlapping(v) for k, v in ticks.items()},
                    "tick_heights": [b[3] for v in ticks.values() for b in v if len(b) == 4],
                    "legend": _corners(legend.get("box")),
                    "legend_covered": int(legend.get("covered_data") or 0),
                }
            )
    return out


def _corners(box: list[float] | None) -> list[float] | None:
    """[x, y, w, h] -> [x0, y0, x1, y1]; None for a missing or empty box."""
    if not box or len(box) != 4 or not box[2] or not box[3]:
        return None
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def _overlapping(boxes: list[list[float]]) -> int:
    """How many of the [x, y, w, h] label ``boxes`` overlap at least one other (the sandbox's strict test)."""
    b = np.array([x for x in boxes if len(x) == 4], dtype=np.float64).reshape(-1, 4)
    if len(b) < 2:
        return 0
    hit = (
        (b[:, None, 0] < b[None, :, 0] + b[None, :, 2])
        & (b[None, :, 0] < b[:, None, 0] + b[:, None, 2])
        & (b[:, None, 1] < b[None, :, 1] + b[None, :, 3])
        & (b[None, :, 1] < b[:, None, 1] + b[:, None, 3])
    )
    np.fill_diagonal(hit, False)
    return int(hit.any(axis=1).sum())


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
        findings.append(f"{_plural(tiny, 'tick label')} smaller than 6pt")
    if crowded:
        findings.append(f"{_plural(crowded, 'axis')} with more than 25 tick labels")
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
        caps_total=True,
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
                else f"legend covers {_plural(a['legend_covered'], 'data point')}"
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
        caps_total=True,
    )


def judge_plot(figure: dict[str, Any] | str | None, screenshot_png: bytes | None) -> DesignResult:
    """Score a rendered plot: empty axes, overlapping or unreadable tick labels, legend over data, missing
    labels, plus the pixel checks (palette, colourfulness, blankness) on its PNG."""
    fig = json.loads(figure) if isinstance(figure, str) else (figure or {})
    axes = plot_axes(fig)
    checks: list[Check] = []
    not_measured: list[str] = []
    if axes:
        empty = [i for i, a in enumerate(axes) if a["data"] == 0]
        checks.append(
            Check(
                "empty_axes",
                "structure",
                3.0,
                1 - len(empty) / len(axes),
                [f"{len(empty)} of {_plural(len(axes), 'axes')} empty"] if empty else [],
                {"axes": len(axes), "empty": len(empty)},
            )
        )
        checks += [_tick_check(axes, fig), _legend_check(axes)]
        unlabeled = sum(1 for a in axes if a["data"] and not (a["title"] or a["xlabel"] or a["ylabel"]))
        checks.append(
            Check(
                "labels",
                "aesthetics",
                1.0,
                1 - 0.5 * unlabeled / len(axes),
                [f"{_plural(unlabeled, 'axes')} without title or axis labels"] if unlabeled else [],
                {"unlabeled": unlabeled},
            )
        )
    else:
        not_measured.append("axes checks (no axes in the figure description)")
    if screenshot_png:
        checks += [
            c
            for c in pixel_checks(pixels.decode(screenshot_png))
            if c.name in ("blankness", "palette", "colourfulness")
        ]
    return _combine(checks, "plot", not_measured)
