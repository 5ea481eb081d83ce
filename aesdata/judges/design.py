"""Built-in static design judge: offline, deterministic, explainable; a 0..100 score shaped like OpenDesign.

Three entry points, one scoring model (``check.combine``):

- ``judge_page(layout, screenshot_png, ...)``: a rendered HTML page (the renderer's ``layout_json`` plus the
  full-page PNG; optionally axe-core's contrast violations, the in-page probe, and the render fidelity
  columns ``render_fidelity`` / ``render_assets``).
- ``judge_screenshot(png)``: a screenshot alone (pixel measures and appeal), e.g. of an existing site.
- ``judge_plot(figure, screenshot_png)``: a rendered plot (the sandbox's figure description plus the PNG).

The checks live in modules named after what they look at: ``colour`` (contrast, palette, colourfulness),
``page`` (layout craft, what failed to render, empty space), ``plot`` (axes, ticks, legend, polish) and
``appeal`` (first-impression appeal predicted by a small model fitted on human ratings of web pages).
Alignment with the instruction (40 points in OpenDesign) is not measured by this judge: the total is
(aesthetics + structure) rescaled to 0..100 and damped by what broke; ``subscores["alignment"]`` is None
with the reason in ``subscores["not_measured"]``.

This module re-exports the names other code uses (``check_contrast``, ``plot_axes``, ...).
"""

from __future__ import annotations

from typing import Any

from aesdata.judges import appeal, pixels
from aesdata.judges.check import JUDGE_ID, Check, DesignResult, combine, describe
from aesdata.judges.colour import (
    check_contrast,
    check_layout_palette,
    colour_checks,
    contrast_ratio,
    parse_color,
)
from aesdata.judges.page import (
    check_alignment,
    check_covered,
    check_empty_media,
    check_fidelity,
    check_images,
    check_overflow,
    check_overlap,
    check_readability,
    check_styling,
    check_typeface,
    check_typography,
    doc_size,
    load_assets,
    load_layout,
    space_checks,
)
from aesdata.judges.plot import judge_plot, plot_axes

__all__ = [
    "JUDGE_ID",
    "Check",
    "DesignResult",
    "check_alignment",
    "check_contrast",
    "check_overflow",
    "check_overlap",
    "check_readability",
    "check_styling",
    "check_typeface",
    "check_typography",
    "contrast_ratio",
    "describe",
    "judge_page",
    "judge_plot",
    "judge_screenshot",
    "load_layout",
    "parse_color",
    "pixel_checks",
    "plot_axes",
]


def pixel_checks(rgb: Any) -> list[Check]:
    """Checks that need only pixels (a decoded screenshot): space (blankness, gaps, whitespace, busyness,
    visual emptiness) and colour (palette, colourfulness)."""
    return space_checks(rgb) + colour_checks(rgb)


def judge_page(
    layout: str | list | dict | None,
    screenshot_png: bytes | None,
    viewport: tuple[int, int] = (1280, 800),
    axe_violations: list[dict[str, Any]] | None = None,
    probe: dict[str, Any] | None = None,
    fidelity: str | None = None,
    assets: list[dict[str, Any]] | str | None = None,
) -> DesignResult:
    """Score a rendered HTML page from its layout (``layout_json``) and full-page screenshot.

    ``axe_violations`` (``inpage.axe_contrast``) replaces the layout's contrast estimate; ``probe``
    (``inpage.probe``) adds broken images, background images that did not load, covered headings and the
    true document size; ``fidelity`` and ``assets`` are the row's ``render_fidelity`` and ``render_assets``
    (a list, or its JSON text): blocked or SRI-rejected libraries and placeholder images lower the score.
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
    vh = float(doc.get("viewport_height") or viewport[1])
    doc_w, doc_h = doc_size(doc, elements, (int(vw), viewport[1]))
    asset_list = load_assets(assets)
    rgb = pixels.decode(screenshot_png) if screenshot_png else None
    geometry = (doc_w, doc_h, vh)
    checks = [
        check_contrast(elements, axe_violations),
        check_overlap(elements),
        check_covered(probe),
        check_overflow(elements, doc_w, vw),
        check_alignment(elements),
        check_typography(elements),
        check_layout_palette(elements),
        check_typeface(elements),
        check_readability(elements),
        check_fidelity(fidelity, asset_list),
        check_images(probe, elements, asset_list, geometry),
        check_empty_media(elements, rgb, geometry),
    ]
    not_measured = []
    colour = None
    if rgb is not None and screenshot_png:
        shot = pixel_checks(rgb)
        colour = next(c.metrics["colourfulness"] for c in shot if c.name == "colourfulness")
        checks += shot
        checks.append(appeal.appeal_check(screenshot_png))
    else:
        not_measured.append("pixel checks and appeal (no screenshot)")
    checks.append(check_styling(elements, vw, colour))
    return combine(checks, "page", not_measured)


def judge_screenshot(png: bytes, with_appeal: bool = True) -> DesignResult:
    """Score a screenshot alone from pixel measures and the appeal model (contrast, overlap, typography are
    not measured). ``with_appeal=False`` leaves the appeal model out (the bench's baseline)."""
    checks = pixel_checks(pixels.decode(png))
    if with_appeal:
        checks.append(appeal.appeal_check(png))
    return combine(checks, "screenshot", ["contrast, overlap, overflow, typography (need the page's layout)"])
