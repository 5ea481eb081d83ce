"""Render one HTML sample in the pool and capture what the judges need, as render-column values.

:func:`render_html` returns a dict keyed by schema column names (``aesdata/schema.py``, group
"render"):

- ``render_status``: ``ok``; ``js_error`` (rendered, but uncaught exceptions: the screenshots are
  kept, the judges decide); ``blank`` (rendered, near-uniform pixels); ``timeout`` (load, or a main
  thread that never comes back after load); ``crash`` (renderer or browser died, e.g. memory bomb);
  ``error`` (anything else). Every status but ok / js_error has ``render_error`` and no images.
- ``screenshot`` (full page, cut at ``max_height``) and ``screenshot_viewport``: ``{"bytes": png,
  "path": None}``; ``screenshot_width`` / ``screenshot_height`` in image pixels.
- ``console_errors_json``, ``blocked_requests_json``: lists of dicts (see ``PageSession``).
- ``render_ms``, ``render_timings_json`` (context, load, settle, layout, screenshot, close in ms).
- ``layout_json``: ``{"document": {width, height, viewport_width, viewport_height, background,
  dom_nodes}, "elements": [{tag, id, cls, x, y, w, h, text, color, bg, font_size, font_family,
  font_weight, z, clickable, overflow_x}, ...], "truncated": bool, "visited": int}`` — boxes in CSS
  px, page coordinates; colours as ``rgb(...)`` / ``rgba(...)`` strings; ``bg`` the effective
  background (first non-transparent ancestor, else white). See ``layout.js``.
- ``dom_nodes``, ``render_meta_json`` (viewport, scale, browser version, assets served and version
  substitutions, popups, settle outcome).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops
from playwright.async_api import Error as PlaywrightError

from aesdata.render.browser_pool import (
    BrowserPool,
    PageSession,
    RenderConfig,
    elapsed_ms,
    one_line,
    records_json,
)
from aesdata.render.png import encode_with_top

_LAYOUT_JS = Path(__file__).with_name("layout.js").read_text()
#: After load: wait for web fonts, scroll once through the page (scroll-reveal content), two frames
#: and a quiet period. Runs inside the page; bounded by ``settle_timeout_s`` from outside.
_SETTLE_JS = """async ({settleMs, scroll, maxHeight}) => {
  const frame = () => new Promise((r) => (window.__aesdataFrame || requestAnimationFrame)(() => r()));
  await Promise.race([document.fonts.ready, new Promise((r) => setTimeout(r, 1500))]);
  if (scroll) {
    const h = Math.min(document.documentElement.scrollHeight, maxHeight);
    for (let y = innerHeight; y < h; y += innerHeight) { scrollTo(0, y); await frame(); }
    scrollTo(0, 0);
  }
  await frame(); await frame();
  await new Promise((r) => setTimeout(r, settleMs));
  await Promise.race([document.fonts.ready, new Promise((r) => setTimeout(r, 500))]);
}"""
#: Stops what is left of CSS motion after load (transitions and animations jump to their end state).
_NO_MOTION_CSS = (
    "*, *::before, *::after { animation-duration: 0s !important; animation-delay: 0s !important;"
    " animation-iteration-count: 1 !important; transition: none !important; caret-color: transparent !important; }"
)
_FAILED = ("timeout", "crash", "blank", "error")


def _image(png: bytes | None) -> dict[str, Any] | None:
    return {"bytes": png, "path": None} if png else None


def blank_fraction(img: Image.Image) -> tuple[float, str]:
    """Return (fraction of pixels that differ from the dominant colour by > 16 in a channel, that colour).

    Computed on a quarter-size copy of ``img`` (box-averaged, so a 1 px stroke still differs by a
    quarter of its contrast); a page with only a short heading scores ~0.002, an empty one 0.
    """
    small = img if img.mode == "RGB" else img.convert("RGB")
    if min(small.size) >= 16:
        small = small.reduce(4)
    colours = small.getcolors(maxcolors=small.width * small.height)
    rgb = max(colours)[1]
    diff = ImageChops.difference(small, Image.new("RGB", small.size, rgb)).split()
    peak = ImageChops.lighter(ImageChops.lighter(diff[0], diff[1]), diff[2])
    differ = sum(peak.histogram()[17:]) / (small.width * small.height)
    return differ, f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"


async def _evaluate(session: PageSession, script: str, arg: Any, timeout_s: float) -> Any:
    """``page.evaluate`` with a wall-clock bound (Playwright's evaluate has none)."""
    return await asyncio.wait_for(session.page.evaluate(script, arg), timeout_s)


async def _screenshot(
    session: PageSession, width: int, height: int, beyond_viewport: bool, scale: float, timeout_s: float
) -> bytes:
    """Chromium's fast PNG of the top ``width`` x ``height`` CSS px of the page at ``scale`` image px
    per CSS px (the device scale: device pixels, as the viewport cut assumes); ``beyond_viewport``
    when that is taller than the viewport (the layout is left as it is: ``100vh`` stays one viewport).

    DevTools' ``Page.captureScreenshot`` straight: ~10% less CPU per sample than Playwright's
    ``page.screenshot`` (measured on the corpus; same pixels on every static page), which also runs
    its own animation and caret helpers in the page (motion is stopped by ``_NO_MOTION_CSS``). With
    ``optimizeForSpeed``: Chromium's default PNG encoder took ~50 ms more browser CPU per page; the
    stored PNGs are written by :mod:`aesdata.render.png` from the decoded pixels.
    """
    cdp = await session.context.new_cdp_session(session.page)
    params = {
        "format": "png",
        "optimizeForSpeed": True,
        "captureBeyondViewport": beyond_viewport,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": scale},
    }
    result = await asyncio.wait_for(cdp.send("Page.captureScreenshot", params), timeout_s)
    return base64.b64decode(result["data"])


async def capture(session: PageSession, config: RenderConfig) -> dict[str, Any]:
    """Settle a loaded sample, then take its layout and screenshots; return the render columns."""
    t = session.timings
    meta: dict[str, Any] = {}
    out: dict[str, Any] = {}
    status, error = "ok", None
    if session.load_error:
        status, error = session.load_error.split(":", 1)[0], session.load_error
        return _finish(session, config, status, error, out, meta)
    t0 = time.perf_counter()
    try:
        await _evaluate(
            session,
            _SETTLE_JS,
            {"settleMs": config.settle_ms, "scroll": config.scroll_reveal, "maxHeight": config.max_height},
            config.settle_timeout_s,
        )
        meta["settled"] = True
    except (asyncio.TimeoutError, PlaywrightError):
        meta["settled"] = False
        try:  # a page that is merely slow answers a trivial probe; a spinning main thread does not
            await _evaluate(session, "1", None, 1.0)
        except (asyncio.TimeoutError, PlaywrightError):
            t["settle_ms"] = elapsed_ms(t0)
            kind = "crash" if session.crashed else "timeout"
            return _finish(
                session,
                config,
                kind,
                f"{kind}: the page's main thread did not return after load "
                f"(settle exceeded {config.settle_timeout_s:g} s)",
                out,
                meta,
            )
    t["settle_ms"] = elapsed_ms(t0)
    t1 = time.perf_counter()
    try:
        layout_text = await _evaluate(
            session,
            _LAYOUT_JS,
            {
                "maxElements": config.max_layout_elements,
                "maxVisit": 20000,
                "textLen": 120,
                "stopMotionCss": _NO_MOTION_CSS,
            },
            config.screenshot_timeout_s,
        )
        layout = json.loads(layout_text)
        t["layout_ms"] = elapsed_ms(t1)
        t2 = time.perf_counter()
        doc_h = int(layout["document"]["height"])
        height = min(max(doc_h, config.viewport_height), config.max_height)
        shot_png = await _screenshot(
            session,
            config.viewport_width,
            height,
            height > config.viewport_height,
            config.device_scale,
            config.screenshot_timeout_s,
        )
        meta["cut_at_max_height"] = doc_h > config.max_height
        t["screenshot_ms"] = elapsed_ms(t2)
    except (asyncio.TimeoutError, PlaywrightError) as e:
        kind = "crash" if session.crashed else ("timeout" if _is_timeout(e) else "error")
        return _finish(session, config, kind, f"{kind}: capture failed: {one_line(e)}", out, meta)
    with Image.open(io.BytesIO(shot_png)) as shot:  # decoded once: blank check, size, stored PNGs
        shot.load()
        differ, colour = blank_fraction(shot)
        pixels = np.asarray(shot if shot.mode in ("RGB", "RGBA") else shot.convert("RGB"))
    meta["non_background_fraction"] = round(differ, 5)
    if differ < config.blank_threshold:
        return _finish(
            session,
            config,
            "blank",
            f"blank: {100 * (1 - differ):.2f}% of pixels are {colour}",
            out,
            meta,
            layout=layout,
        )
    if session.pageerrors:
        first = next(c["text"] for c in session.console if c["type"] == "pageerror")
        status, error = "js_error", f"js_error: {session.pageerrors} uncaught error(s); first: {first}"
    full_png, viewport_png = encode_with_top(pixels, round(config.viewport_height * config.device_scale))
    out["screenshot_height"], out["screenshot_width"] = pixels.shape[:2]
    out["screenshot"] = _image(full_png)
    out["screenshot_viewport"] = _image(viewport_png)
    return _finish(session, config, status, error, out, meta, layout=layout)


def _finish(
    session: PageSession,
    config: RenderConfig,
    status: str,
    error: str | None,
    out: dict[str, Any],
    meta: dict[str, Any],
    layout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta.update(
        {
            "viewport": [config.viewport_width, config.viewport_height],
            "device_scale": config.device_scale,
            "browser": f"chromium {session.browser_version}",
            "isolation": "fresh browser context per sample; network sealed",
            "assets": session.assets,
            "asset_substitutions": sum(1 for a in session.assets if a["substituted"]),
            "popups_blocked": session.popups,
        }
    )
    if layout is not None:
        meta["document"] = layout["document"]
    row: dict[str, Any] = {
        "render_status": status,
        "render_error": error,
        "console_errors_json": records_json(session.console),
        "blocked_requests_json": records_json(session.blocked),
        "screenshot": None,
        "screenshot_viewport": None,
        "screenshot_width": None,
        "screenshot_height": None,
        "render_timings_json": json.dumps(session.timings),
        "layout_json": json.dumps(layout, ensure_ascii=False)
        if layout is not None and status not in _FAILED
        else None,
        "dom_nodes": int(layout["document"]["dom_nodes"]) if layout is not None else None,
        "render_meta_json": json.dumps(meta, ensure_ascii=False),
    }
    row.update(out)
    return row


async def render_html(
    pool: BrowserPool, html: str, live: Callable[[PageSession], Awaitable[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    """Render one HTML document in ``pool``; return the render columns (see module docstring).

    ``live``: called with the open session after a successful capture (status ok / js_error), while the
    page is still loaded; its dict is merged into the row (the judges' live captures: one visit per page).
    """
    t0 = time.perf_counter()
    config = pool.config
    budget = config.load_timeout_s + config.settle_timeout_s + 2 * config.screenshot_timeout_s + 30
    holder: dict[str, Any] = {}
    try:
        async with pool.open(html) as session:
            holder["session"] = session
            row = await asyncio.wait_for(capture(session, config), budget)
            if live is not None and row["render_status"] in ("ok", "js_error"):
                row.update(await live(session))
        row["render_timings_json"] = json.dumps(session.timings)  # close_ms is known only now
    except Exception as e:  # the pool must go on: one sample's failure is that sample's status
        session = holder.get("session")
        kind = (
            "crash" if session is not None and session.crashed else ("timeout" if _is_timeout(e) else "error")
        )
        row = {
            "render_status": kind,
            "render_error": f"{kind}: {one_line(e)}",
            "screenshot": None,
            "screenshot_viewport": None,
            "console_errors_json": records_json(session.console) if session else "[]",
            "blocked_requests_json": records_json(session.blocked) if session else "[]",
            "render_meta_json": json.dumps({"browser": f"chromium {pool.version}"}),
        }
    row["render_ms"] = elapsed_ms(t0)
    return row


async def render_many(pool: BrowserPool, htmls: list[str]) -> list[dict[str, Any]]:
    """Render ``htmls`` concurrently (bounded by the pool); results in input order."""
    return list(await asyncio.gather(*(render_html(pool, h) for h in htmls)))


def _is_timeout(e: BaseException) -> bool:
    return isinstance(e, asyncio.TimeoutError) or "Timeout" in str(e)
