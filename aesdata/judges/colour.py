"""Colour checks of the design judge: text contrast (WCAG), the page's palette, and colourfulness.

People like colour (Reinecke et al. 2013 measured appeal rising with colourfulness up to a high level), so
rich colour is not marked down; what is marked down is colour that hurts reading (low contrast), a palette
with no structure (many unrelated hue families in large areas), and the garish look of large areas of
fully saturated primaries (pure red, green, blue, yellow, the default link blue).

Inputs: layout elements (``layout_json`` items with ``color``/``bg``/``font_size``) or an RGB array.
Outputs: ``Check`` objects. Written by hand: the WCAG relative-luminance formula and the thresholds below.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from aesdata.judges import pixels
from aesdata.judges.check import Check, describe, plural

_RGB = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)")


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
            f"{plural(n, 'text block')} below 4.5:1 contrast (worst {worst[1]:.1f}:1: {worst[0][:40]})"
        )
    return Check(
        "contrast",
        "aesthetics",
        3.0,
        score,
        findings,
        {"failing": n, "text_blocks": len(texts), "source": source},
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


def colour_checks(rgb: np.ndarray) -> list[Check]:
    """Palette structure and colourfulness of a screenshot.

    Palette: hue families (30-degree sectors) among colours covering >= 1% of pixels; up to 6 read as a
    designed palette (photos and colour maps bring several), more lower the score gently. Colourfulness
    (Hasler-Suesstrunk M) is only marked down when it comes with large areas of saturated primaries
    (``garish``: over 12% of pixels at saturation and value > 0.85 near pure red, green, blue or yellow);
    a nearly grey screenshot (M < 5) scores a little lower than a coloured one.
    """
    pal = pixels.palette(rgb)
    pal_score = (1.0 if pal.hue_families <= 6 else max(0.5, 1 - 0.1 * (pal.hue_families - 6))) * (
        1.0 if len(pal.colors) <= 16 else max(0.5, 1 - 0.03 * (len(pal.colors) - 16))
    )
    pal_find = []
    if pal.hue_families > 6:
        pal_find.append(f"{pal.hue_families} hue families in large areas (up to 6 read as one palette)")
    if len(pal.colors) > 16:
        pal_find.append(f"{len(pal.colors)} major colours on screen")
    colour = pixels.colourfulness(rgb)
    primaries = pixels.primary_share(rgb)
    garish = max(0.0, min(1.0, (primaries - 0.12) / 0.25))
    c_score = (0.85 + 0.15 * min(colour / 5.0, 1.0)) * (1.0 - 0.6 * garish)
    c_find = []
    if garish > 0:
        c_find.append(f"garish colours: {primaries:.0%} of the screen in pure primaries")
    return [
        Check(
            "palette",
            "aesthetics",
            1.5,
            pal_score,
            pal_find,
            {"major_colors": len(pal.colors), "hue_families": pal.hue_families},
        ),
        Check(
            "colourfulness",
            "aesthetics",
            1.0,
            c_score,
            c_find,
            {"colourfulness": round(colour, 2), "primary_share": round(primaries, 4)},
        ),
    ]
