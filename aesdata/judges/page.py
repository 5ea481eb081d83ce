"""Page checks of the design judge: layout craft, what failed to render, and empty space.

- Layout craft (from the renderer's ``layout_json``): overlap, overflow, alignment to a grid, typographic
  scale, typeface choice, readability (line spacing and length), signs of an unstyled page.
- What broke (from the layout, the in-page probe ``inpage.probe`` and the render fidelity columns of the
  fidelity issue, ``render_fidelity`` and ``render_assets``): libraries that were blocked or refused by
  SRI, broken and placeholder images weighted by the area they leave empty, missing CSS background
  images, empty canvases and chart containers, headings covered by fixed bars. These are ``factor`` checks:
  the total is multiplied by their score, so the loss is in proportion to the page area affected.
- Space (from the screenshot): blankness, long empty gaps, whitespace balance, visual complexity.

Inputs: layout elements, probe facts, an RGB screenshot array. Outputs: ``Check`` objects. Written by hand
(no library scores page designs): the formulas and thresholds below.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from aesdata.judges import pixels
from aesdata.judges.check import Check, band, describe, plural
from aesdata.judges.colour import parse_color

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


def doc_size(
    doc: dict[str, Any], elements: list[dict[str, Any]], viewport: tuple[int, int]
) -> tuple[float, float]:
    for wk, hk in (("doc_w", "doc_h"), ("width", "height"), ("w", "h"), ("scroll_width", "scroll_height")):
        if wk in doc and hk in doc:
            return float(doc[wk]), float(doc[hk])
    right = max((e["x"] + e["w"] for e in elements), default=viewport[0])
    bottom = max((e["y"] + e["h"] for e in elements), default=viewport[1])
    return max(viewport[0], right), max(viewport[1], bottom)


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
    clipped = [
        e
        for e in elements
        if e.get("overflow_x")
        and str(e.get("text") or "").strip()
        and str(e.get("tag", "")).lower() not in _SVG_TEXT
    ]
    findings = []
    if over > 1:
        findings.append(
            f"page scrolls horizontally ({over:.0f}px wider than the {viewport_w:.0f}px viewport)"
        )
    if outside:
        findings.append(
            f"{plural(len(outside), 'text block')} outside the viewport, e.g. {describe(outside[0])}"
        )
    if clipped:
        findings.append(
            f"{plural(len(clipped), 'element')} with clipped or overflowing text, e.g. {describe(clipped[0])}"
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
        findings.append(f"{plural(len(tiny), 'text block')} set below 12px")
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
        findings.append(f"{plural(len(blue), 'link')} in the browser's default blue")
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


# ------------------------------------------------------------------------------------------ what broke
#: ids and classes of elements meant to hold a chart, a map or a drawing
_CHART = re.compile(r"chart|graph|plot|viz|canvas|sparkline|diagram|map\b|-map|map-", re.I)
#: failed answers to a requested asset (``render_assets`` items, see the fidelity issue's schema)
_FAILED = {"blocked", "sri-rejected"}


def check_fidelity(fidelity: str | None, assets: list[dict[str, Any]] | None) -> Check:
    """How faithfully the page's libraries, stylesheets and fonts were served (``render_fidelity`` and
    ``render_assets``). Each script or stylesheet that was blocked or refused by SRI multiplies the total
    by 0.75 (at least 0.3 in all), another major version by 0.9, a blocked font by 0.97; a ``degraded``
    render is at most 70 and a ``broken`` one at most 45, so a damaged render ranks below a faithful one
    of the same quality. Without fidelity columns the check is neutral."""
    assets = [a for a in assets or [] if isinstance(a, dict)]
    libs = [
        a for a in assets if a.get("kind") in ("script", "stylesheet") and a.get("answered_by") in _FAILED
    ]
    other = [a for a in assets if a.get("answered_by") == "other-major"]
    fonts = [a for a in assets if a.get("kind") == "font" and a.get("answered_by") in _FAILED]
    score = max(0.3, 0.75 ** len(libs) * 0.9 ** len(other) * 0.97 ** len(fonts))
    findings = []
    for a in libs[:3]:
        what = a.get("package") or str(a.get("url") or "")[:60]
        how = "refused by its integrity check" if a.get("answered_by") == "sri-rejected" else "blocked"
        findings.append(f"{a.get('kind')} {what} {how}: the page renders without it")
    if len(libs) > 3:
        findings.append(f"{len(libs) - 3} more libraries not loaded")
    if other:
        findings.append(f"{plural(len(other), 'library')} served in another major version")
    if fonts:
        findings.append(f"{plural(len(fonts), 'web font')} not loaded")
    ceiling = {"degraded": 70.0, "broken": 45.0}.get(str(fidelity or ""))
    if ceiling and not findings:
        findings.append(f"render fidelity {fidelity}: the page does not look as its author meant")
    return Check(
        "render_fidelity",
        "structure",
        0.0,
        score,
        findings,
        {"fidelity": fidelity, "failed_libraries": len(libs), "other_major": len(other), "fonts": len(fonts)},
        role="factor",
        ceiling=ceiling,
    )


def _area_share(
    boxes: list[tuple[float, float, float, float]], doc_w: float, doc_h: float, vh: float
) -> float:
    """Share of the page the ``boxes`` (x, y, w, h in CSS px) cover, clipped to the page; the first viewport
    counts twice (it is what a visitor sees first)."""
    if not boxes:
        return 0.0
    page = max(doc_w * doc_h, 1.0)
    fold = doc_w * min(vh, doc_h)
    covered = 0.0
    for x, y, w, h in boxes:
        x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(doc_w, x + w), min(doc_h, y + h)
        if x1 <= x0 or y1 <= y0:
            continue
        area = (x1 - x0) * (y1 - y0)
        above = (x1 - x0) * max(0.0, min(y1, vh) - y0)
        covered += area + above
    return min(1.0, covered / (page + fold))


def check_images(
    probe: dict[str, Any] | None,
    elements: list[dict[str, Any]],
    assets: list[dict[str, Any]] | None,
    doc: tuple[float, float, float],
) -> Check:
    """Images that did not show: broken ``<img>`` (the probe's ``broken_images``, else ``broken`` flags in the
    layout), images answered with a neutral placeholder (``render_assets``), and CSS background images that
    did not load (the probe's ``background_images``). Scored by the page area they leave empty (the first
    viewport counts twice): the total is multiplied by 1 - 1.5 x that share (at least 0.3), and by 0.98 per
    image. ``doc`` is (width, height, viewport height) in CSS px."""
    doc_w, doc_h, vh = doc
    broken = (probe or {}).get("broken_images")
    if broken is None:
        broken = [e for e in elements if str(e.get("tag", "")).lower() == "img" and e.get("broken")]
    placeholder_urls = {
        str(a.get("url"))
        for a in assets or []
        if isinstance(a, dict) and a.get("answered_by") == "placeholder"
    }
    images = (probe or {}).get("images_list") or []
    broken_src = {str(b.get("src")) for b in broken}
    placeholders = [i for i in images if str(i.get("src")) in placeholder_urls - broken_src]
    unmatched = len(placeholder_urls - {str(i.get("src")) for i in images})
    missing_bg = [b for b in (probe or {}).get("background_images") or [] if not b.get("loaded")]

    def box(i: dict[str, Any]) -> tuple[float, float, float, float]:
        return float(i.get("x") or 0), float(i.get("y") or 0), float(i.get("w") or 0), float(i.get("h") or 0)

    share = _area_share([box(i) for i in [*broken, *placeholders, *missing_bg]], doc_w, doc_h, vh)
    n = len(broken) + len(placeholders) + len(missing_bg) + unmatched
    score = max(0.3, (1.0 - 1.5 * share) * 0.98**n)
    findings = []
    if broken:
        findings.append(f"{plural(len(broken), 'broken image')}")
    shown_as_placeholder = {str(b.get("src")) for b in broken} & placeholder_urls
    if shown_as_placeholder:  # answered with a placeholder, then not decoded: counted once, as broken
        findings.append(
            f"{plural(len(shown_as_placeholder), 'remote image')} answered with a neutral placeholder"
        )
    elif placeholders or unmatched:
        findings.append(
            f"{plural(len(placeholders) + unmatched, 'remote image')} shown as a neutral placeholder"
        )
    if missing_bg:
        findings.append(
            f"{plural(len(missing_bg), 'CSS background image')} did not load, e.g. {str(missing_bg[0].get('url'))[:60]}"
        )
    if share >= 0.02:
        findings.append(f"missing images leave {share:.0%} of the page empty")
    return Check(
        "images",
        "structure",
        0.0,
        score,
        findings,
        {
            "broken": len(broken),
            "placeholders": len(placeholders) + unmatched,
            "missing_backgrounds": len(missing_bg),
            "empty_share": round(share, 4),
        },
        role="factor",
    )


def _region_empty(rgb: np.ndarray, box: tuple[float, float, float, float], scale: float) -> bool | None:
    """Whether the screenshot region of ``box`` (CSS px; ``scale`` working px per CSS px) is one flat colour
    (nothing drawn); None when the region is off the screenshot or too small to tell."""
    x, y, w, h = (v * scale for v in box)
    x0, y0 = max(0, int(x + 0.15 * w)), max(0, int(y + 0.15 * h))  # inner 70%: ignore borders and padding
    x1, y1 = min(rgb.shape[1], int(x + 0.85 * w)), min(rgb.shape[0], int(y + 0.85 * h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    region = rgb[y0:y1, x0:x1].astype(np.int16)
    spread = np.abs(region - np.median(region.reshape(-1, 3), axis=0)).max(axis=2)
    return bool((spread > 12).mean() < 0.002)


def check_empty_media(
    elements: list[dict[str, Any]], rgb: np.ndarray | None, doc: tuple[float, float, float]
) -> Check:
    """Canvases, SVG drawings and chart containers (an id or class naming a chart, graph, plot or map) of at
    least 120 x 80 px whose area in the screenshot is one flat colour: a chart library that did not load, a
    drawing that never ran. Scored like missing images, by the area left empty (the total times 1 - 1.5 x
    share, at least 0.3, and 0.9 per empty element)."""
    doc_w, doc_h, vh = doc
    if rgb is None:
        return Check("empty_media", "structure", 0.0, 1.0, [], {"checked": 0, "empty": 0}, role="factor")
    scale = rgb.shape[1] / max(doc_w, 1.0)
    candidates = []
    for e in elements:
        tag = str(e.get("tag", "")).lower()
        named = _CHART.search(f"{e.get('id') or ''} {e.get('cls') or ''}") is not None
        if (
            e.get("w", 0) >= 120
            and e.get("h", 0) >= 80
            and (tag in ("canvas", "svg") or (named and tag != "img"))
        ):
            candidates.append(e)
    empty: list[dict[str, Any]] = []
    for e in candidates:
        b = (float(e["x"]), float(e["y"]), float(e["w"]), float(e["h"]))
        inside = any(
            o["x"] <= b[0] + 1
            and o["y"] <= b[1] + 1
            and o["x"] + o["w"] >= b[0] + b[2] - 1
            and o["y"] + o["h"] >= b[1] + b[3] - 1
            for o in empty
        )
        if not inside and _region_empty(rgb, b, scale):
            empty.append(e)
    share = _area_share([(e["x"], e["y"], e["w"], e["h"]) for e in empty], doc_w, doc_h, vh)
    score = max(0.3, (1.0 - 1.5 * share) * 0.9 ** len(empty))
    findings = []
    if empty:
        first = empty[0]
        name = f"#{first['id']}" if first.get("id") else str(first.get("tag"))
        kinds = "chart area" if any(str(e.get("tag")) not in ("canvas", "svg") for e in empty) else "canvas"
        findings.append(
            f"{plural(len(empty), 'empty ' + kinds)} (nothing drawn), e.g. {name} "
            f"{first['w']:.0f}x{first['h']:.0f}px"
        )
    return Check(
        "empty_media",
        "structure",
        0.0,
        score,
        findings,
        {"checked": len(candidates), "empty": len(empty), "empty_share": round(share, 4)},
        role="factor",
    )


def check_covered(probe: dict[str, Any] | None) -> Check:
    """Headings, buttons and links in the first viewport that another element covers (a fixed header over
    the headline), from the probe's ``covered`` list (hit-testing at each element's centre)."""
    covered = (probe or {}).get("covered") or []
    n = len(covered)
    findings = [
        f"{c.get('what', 'element')} is covered by {c.get('by', 'another element')}" for c in covered[:3]
    ]
    return Check("covered", "structure", 2.0, 1.0 / (1.0 + 0.5 * n), findings, {"covered": n})


# ------------------------------------------------------------------------------------------ space checks
def space_checks(rgb: np.ndarray) -> list[Check]:
    """Checks that need only pixels: blankness and visual emptiness (``factor``: a nearly blank page scores
    near 0, a visually empty one, edge density under 0.008, loses up to 40%), long empty gaps (in proportion to their share),
    whitespace balance, and visual busyness."""
    checks: list[Check] = []
    _, dom_share = pixels.dominant_color(rgb)
    fg_share, imbalance = pixels.balance(rgb)
    blank_score = 1.0 if dom_share < 0.985 else max(0.0, (0.999 - dom_share) / 0.014)
    checks.append(
        Check(
            "blankness",
            "structure",
            0.0,
            blank_score,
            [f"page is nearly blank ({dom_share:.1%} one colour)"] if blank_score < 1 else [],
            {"dominant_share": round(dom_share, 4)},
            role="factor",
        )
    )
    gap_share, runs = pixels.empty_bands(rgb)
    gap_score = 1.0 if gap_share <= 0.2 else max(0.4, 1 - (gap_share - 0.2))
    checks.append(
        Check(
            "empty_regions",
            "structure",
            0.0,
            gap_score,
            [f"{gap_share:.0%} of the page is empty gaps ({plural(runs, 'gap')})"] if gap_score < 1 else [],
            {"gap_share": round(gap_share, 3), "gaps": runs},
            role="factor",
        )
    )
    ws = band(fg_share, 0.02, 0.65, 0.9) * (
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
    edges = pixels.edge_density(rgb)
    checks.append(
        Check(
            "complexity",
            "aesthetics",
            1.0,
            band(edges, 0.0, 0.22, 1.0),
            [f"visually busy (edge density {edges:.2f})"] if edges > 0.22 else [],
            {"edge_density": round(edges, 4)},
        )
    )
    empty = 1.0 if edges >= 0.008 else 0.6 + 0.4 * edges / 0.008
    checks.append(
        Check(
            "visual_emptiness",
            "structure",
            0.0,
            empty,
            [f"visually empty (edge density {edges:.3f}): little is drawn"] if empty < 1 else [],
            {"edge_density": round(edges, 4)},
            role="factor",
        )
    )
    return checks


def load_assets(value: Any) -> list[dict[str, Any]] | None:
    """``render_assets`` as a list of dicts: accepts the typed column (a list), its JSON text, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return [dict(a) for a in value if isinstance(a, dict)]
