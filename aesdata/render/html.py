"""Render one HTML sample in the pool and capture what the judges need, as render-column values.

:func:`render_html` returns a dict keyed by schema column names (``aesdata/schema.py``, group
"render"):

- ``render_status``: ``ok``; ``js_error`` (rendered, but uncaught exceptions: the screenshots are
  kept, the judges decide); ``blank`` (rendered, near-uniform pixels); ``wall_timeout`` (a wall-clock
  guard fired: load, or a main thread that does not come back while the page clock runs; it may be
  the machine's fault, so :func:`render_many` renders it once more alone); ``timeout`` (the guard
  fired again on that retry: the page is broken); ``crash`` (renderer or browser died, e.g. memory
  bomb); ``error`` (anything else). Every status but ok / js_error has ``render_error`` and no images.
- The page runs on the pool's page clock (``browser_pool`` docstring): it loads at page time 0, then
  :func:`settle` advances ``settle_ms`` of page time, and the screenshots show the page at exactly
  that page time, with the same seeded randomness on every render.
- ``screenshot`` (full page, cut at ``max_height``) and ``screenshot_viewport``: ``{"bytes": png,
  "path": None}``; ``screenshot_width`` / ``screenshot_height`` in image pixels.
- ``console_errors_json``, ``blocked_requests_json``: lists of dicts (see ``PageSession``).
- ``render_ms``, ``render_timings_json`` (context, load, settle, layout, screenshot, close in ms).
- ``layout_json``: ``{"document": {width, height, viewport_width, viewport_height, background,
  dom_nodes}, "elements": [{tag, id, cls, x, y, w, h, text, color, bg, font_size, font_family,
  font_weight, z, clickable, overflow_x}, ...], "truncated": bool, "visited": int}`` — boxes in CSS
  px, page coordinates; colours as ``rgb(...)`` / ``rgba(...)`` strings; ``bg`` the effective
  background (first non-transparent ancestor, else white). See ``layout.js``.
- ``dom_nodes``, ``render_meta_json`` (viewport, scale, browser version, version substitutions,
  popups, settle outcome).
- ``render_assets``: every file the page asked for outside itself and what answered it (see
  ``RENDER_ASSET`` in the schema); ``render_fidelity``: faithful | degraded | broken
  (:mod:`aesdata.render.fidelity`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
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
    wall_left,
)
from aesdata.render.fidelity import render_fidelity, sri_rejections
from aesdata.render.png import encode_with_top

_LAYOUT_JS = Path(__file__).with_name("layout.js").read_text()
#: With ``scroll``, once down through the page and back up, a viewport at a time with a real frame at
#: each stop (scroll-reveal content), ending at the top; then web fonts (at most ``fontsMs`` of wall
#: time). The way back up stops where a user's scroll passes (each viewport, then half a viewport from
#: the top): a page that hides its header while scrolling down shows it again only on a scroll event
#: going up below the top (a real restaurant page, ``grilli``, was captured with its header hidden
#: after a jump straight to the top). Uses the real timers: the page clock does not move meanwhile.
#: The scrolls are instant whatever the page's ``scroll-behavior`` (a smooth scroll moves on the wall
#: clock: on a page with ``scroll-behavior: smooth`` each frame saw the page wherever the machine's
#: speed had taken it, and the scroll events the page answered differed from render to render).
_SCROLL_FONTS_JS = """async ({fontsMs, scroll, maxHeight}) => {
  const n = window.__aesdataNative || window;
  const frame = () => new Promise((r) => n.requestAnimationFrame(() => n.setTimeout(r, 0)));
  if (scroll) {
    const h = Math.min(document.documentElement.scrollHeight, maxHeight);
    const jump = (y) => scrollTo({ left: 0, top: y, behavior: "instant" });
    const stops = [];
    for (let y = innerHeight; y < h; y += innerHeight) stops.push(y);
    const up = stops.length ? [...stops.slice(0, -1).reverse(), innerHeight >> 1] : [];
    for (const y of [...stops, ...up, 0]) { jump(y); await frame(); }
  }
  if (fontsMs) await Promise.race([document.fonts.ready, new Promise((r) => n.setTimeout(r, fontsMs))]);
}"""
#: Stops motion that runs on the wall clock, after the page time is reached: CSS animations and
#: transitions jump to their end (``_NO_MOTION_CSS``), script animations (``element.animate``) finish,
#: or, when endless, stop at the page time.
_FREEZE_JS = """({css, pageMs}) => {
  const style = document.createElement("style");
  style.textContent = css;
  (document.head || document.documentElement).appendChild(style);
  for (const a of document.getAnimations()) {
    try { a.finish(); } catch (e) { try { a.pause(); a.currentTime = pageMs; } catch (e2) { /* gone */ } }
  }
}"""
#: Stops what is left of CSS motion after load (transitions and animations jump to their end state;
#: ``scroll-behavior: smooth`` scrolls, which run on the wall clock, jump too: the interactive agent's
#: clicks on in-page links).
_NO_MOTION_CSS = (
    "*, *::before, *::after { animation-duration: 0s !important; animation-delay: 0s !important;"
    " animation-iteration-count: 1 !important; transition: none !important; caret-color: transparent !important;"
    " scroll-behavior: auto !important; }"
)
_FAILED = ("timeout", "wall_timeout", "crash", "blank", "error")


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
    stored PNGs are written by :mod:`aesdata.render.png` from the decoded pixels. A viewport-only
    capture is rastered afresh first (:func:`_fresh_raster`).
    """
    cdp = await session.context.new_cdp_session(session.page)
    if not beyond_viewport:
        await _fresh_raster(session, cdp, timeout_s)
    params = {
        "format": "png",
        "optimizeForSpeed": True,
        "captureBeyondViewport": beyond_viewport,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": scale},
    }
    result = await asyncio.wait_for(cdp.send("Page.captureScreenshot", params), timeout_s)
    return base64.b64decode(result["data"])


async def _fresh_raster(session: PageSession, cdp: Any, timeout_s: float) -> None:
    """Have the compositor raster the settled page afresh before a viewport-only capture.

    Such a capture reads the tiles the compositor already holds, and what those held depended on the
    page's raster history, which the machine's speed decides: on the real page
    javascript-mini-projects-drum-aditya7302 (buttons at a half-pixel offset whose scaled background
    images arrive after the first paint) one tile-boundary row differed by up to 6/255 in 14
    renders of 240 beside two busy-loop processes (``bench/repro_drum.py``). Did not help:
    ``--num-raster-threads=1`` (4/120), a Blink repaint of every element (a colour toggle: 4/60),
    re-rastering the root layer's tiles (a ``will-change`` toggle: 10/120). Enabling DevTools'
    LayerTree domain for a commit (which pushes the layers anew, with debug info) gives the page
    rastered from scratch: 240/240 the same, the variant a beyond-viewport capture (a taller page's)
    always gives; none of the other 81 real pages changed. Capturing every page beyond the viewport
    instead changed three other short pages (a canvas game was captured cleared). Costs two real
    frames and a raster of the viewport."""
    await asyncio.wait_for(cdp.send("LayerTree.enable"), timeout_s)
    try:
        await session.frames(2, timeout_s)  # what the commit started is rastered
    finally:
        await asyncio.wait_for(cdp.send("LayerTree.disable"), timeout_s)


async def _scroll_and_fonts(
    session: PageSession, config: RenderConfig, fonts_ms: int, scroll: bool, timeout_s: float
) -> None:
    """``_SCROLL_FONTS_JS`` (scroll-through when ``scroll``, then web fonts), bound by ``timeout_s`` of wall time."""
    arg = {"fontsMs": fonts_ms, "scroll": scroll, "maxHeight": config.max_height}
    await _evaluate(session, _SCROLL_FONTS_JS, arg, max(0.1, timeout_s))


async def settle(session: PageSession, config: RenderConfig) -> None:
    """Bring a loaded sample to page time ``config.settle_ms``, then stop wall-clock motion.

    Schedule: what the load started lands (:meth:`PageSession.quiet`), then a scroll through the page
    and fonts (real frames, page clock still at 0), then the page time (:meth:`PageSession.wait`: the
    clock advances in ``FRAME_MS`` steps, each followed by network quiet and a real frame, so what a
    step requested lands before the next step, however slow the machine), then fonts once more and
    the motion freeze. ``asyncio.TimeoutError`` when the whole schedule exceeds
    ``config.settle_timeout_s`` of wall time.
    """
    deadline = time.perf_counter() + config.settle_timeout_s
    await session.quiet(wall_left(deadline))
    await _scroll_and_fonts(session, config, 1500, config.scroll_reveal, wall_left(deadline))
    await session.wait(max(0, config.settle_ms - session.page_ms), wall_left(deadline))
    await _scroll_and_fonts(session, config, 500, False, wall_left(deadline))
    await _evaluate(
        session, _FREEZE_JS, {"css": _NO_MOTION_CSS, "pageMs": session.page_ms}, wall_left(deadline)
    )


async def capture(session: PageSession, config: RenderConfig, *, last_try: bool = False) -> dict[str, Any]:
    """Settle a loaded sample, then take its layout and screenshots; return the render columns.

    A page that answers but does not reach its page time within ``settle_timeout_s`` (slow, or a busy
    machine) is a ``wall_timeout``; on the ``last_try`` it is captured as it is (``settled`` false)."""
    t = session.timings
    meta: dict[str, Any] = {}
    out: dict[str, Any] = {}
    status, error = "ok", None
    if session.load_error:
        status, error = session.load_error.split(":", 1)[0], session.load_error
        return _finish(session, config, status, error, out, meta)
    t0 = time.perf_counter()
    try:
        await settle(session, config)
        meta["settled"] = True
    except (asyncio.TimeoutError, PlaywrightError):
        meta["settled"] = False
        try:  # a page that is merely slow answers a trivial probe; a spinning main thread does not
            await _evaluate(session, "1", None, 1.0)
            hung = False
        except (asyncio.TimeoutError, PlaywrightError):
            hung = True
        if hung or not last_try:
            t["settle_ms"] = elapsed_ms(t0)
            kind = "crash" if session.crashed else "wall_timeout"
            what = "did not return after load" if hung else f"reached only {session.page_ms} ms of page time"
            return _finish(
                session,
                config,
                kind,
                f"{kind}: the page's main thread {what} (at page time {session.page_ms} ms; "
                f"settle exceeded {config.settle_timeout_s:g} s of wall time)",
                out,
                meta,
            )
    meta["page_ms"] = session.page_ms
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
                "stopMotionCss": "" if meta["settled"] else _NO_MOTION_CSS,
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
        # what the capture itself requested is answered and recorded before the records are read: a
        # full-page screenshot lays the page out at its full height, which can request a web font (a real
        # page's icon font was in render_assets on one build and not on the other)
        with contextlib.suppress(asyncio.TimeoutError, PlaywrightError):
            await session.quiet(config.screenshot_timeout_s)
    except (asyncio.TimeoutError, PlaywrightError) as e:
        kind = "crash" if session.crashed else ("wall_timeout" if _is_timeout(e) else "error")
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
            "asset_substitutions": sum(
                1 for a in session.assets if a["answered_by"] in ("same-major", "other-major")
            ),
            "popups_blocked": session.popups,
        }
    )
    if layout is not None:
        meta["document"] = layout["document"]
    assets = _assets_with_console_sri(session)
    row: dict[str, Any] = {
        "render_status": status,
        "render_error": error,
        "console_errors_json": records_json(console_in_order(session.console)),
        "blocked_requests_json": records_json(in_order(session.blocked)),
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
        "render_assets": assets,
        "render_fidelity": render_fidelity(assets),
    }
    row.update(out)
    return row


def in_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` sorted by their content, each distinct record once. Request handlers record a request
    when its answer is ready (after a store lookup in a thread), so the order they were appended in is
    the machine's, not the page's: two renders of the same page listed the same assets in different
    orders. And how many requests Chromium makes for one URL is the machine's too: a second element
    asking for a file shares the first request while it is in flight, and requests it again once it
    has failed (a stylesheet both linked and ``@import``-ed was listed, and its refusal counted by the
    design judge, once on one build and twice on the other); a URL with the same answer is listed once."""
    distinct = {json.dumps(r, sort_keys=True, default=str): r for r in records}
    return [distinct[k] for k in sorted(distinct)]


def console_in_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's console records in the order the page wrote them, then the refused requests' messages
    (``blocked_resource``) in content order, each once (:func:`in_order`): Chromium logs those when the
    request handler answers, which is the machine's order, once per request it made."""
    own = [r for r in records if not r.get("blocked_resource")]
    return own + in_order([r for r in records if r.get("blocked_resource")])


def _assets_with_console_sri(session: PageSession) -> list[dict[str, Any]]:
    """The session's asset records (in content order, :func:`in_order`), with files Chromium refused
    for SRI (seen only in the console: elements a script created) marked ``sri-rejected``."""
    refused = sri_rejections(session.console)
    assets = [dict(a) for a in session.assets]
    for a in assets:
        if a["url"] in refused and a["answered_by"] != "blocked":
            a["answered_by"], a["sri"] = "sri-rejected", "rejected"
    return in_order(assets)


def files_root_of(meta_json: str | None) -> Path | None:
    """A row's own folder (``files_root`` in its ``meta_json``, set by ``read_corpus`` for multi-file
    pages) when it exists, else None: what the page is served from, on its render and any reopening."""
    if not meta_json:
        return None
    try:
        root = json.loads(meta_json).get("files_root")
    except (ValueError, AttributeError):
        return None
    return Path(root) if isinstance(root, str) and Path(root).is_dir() else None


async def render_html(
    pool: BrowserPool,
    html: str,
    files_root: Path | None = None,
    seed: str | None = None,
    last_try: bool = False,
    live: Callable[[PageSession], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Render one HTML document in ``pool``; return the render columns (see module docstring).

    ``files_root``: the sample's own folder when it is a multi-file page (served at the sample's
    origin). ``seed``: what the page's randomness is seeded from (default: ``html``). A wall-clock
    guard that fires gives ``wall_timeout``; :func:`render_many` retries those (``last_try``, see
    :func:`capture`). ``live``: called with
    the open session after a successful capture (status ok / js_error), while the page is still loaded;
    its dict is merged into the row (the judges' live captures: one visit per page)."""
    t0 = time.perf_counter()
    config = pool.config
    budget = config.load_timeout_s + config.settle_timeout_s + 2 * config.screenshot_timeout_s + 30
    holder: dict[str, Any] = {}
    try:
        async with pool.open(html, files_root, seed) as session:
            holder["session"] = session
            row = await asyncio.wait_for(capture(session, config, last_try=last_try), budget)
            if live is not None and row["render_status"] in ("ok", "js_error"):
                row.update(await live(session))
        row["render_timings_json"] = json.dumps(session.timings)  # close_ms is known only now
    except Exception as e:  # the pool must go on: one sample's failure is that sample's status
        session = holder.get("session")
        kind = (
            "crash"
            if session is not None and session.crashed
            else ("wall_timeout" if _is_timeout(e) else "error")
        )
        row = {
            "render_status": kind,
            "render_error": f"{kind}: {one_line(e)}",
            "screenshot": None,
            "screenshot_viewport": None,
            "console_errors_json": records_json(console_in_order(session.console)) if session else "[]",
            "blocked_requests_json": records_json(in_order(session.blocked)) if session else "[]",
            "render_meta_json": json.dumps({"browser": f"chromium {pool.version}"}),
            "render_assets": _assets_with_console_sri(session) if session else [],
        }
        row["render_fidelity"] = render_fidelity(row["render_assets"])
    row["render_ms"] = elapsed_ms(t0)
    return row


async def render_many(
    pool: BrowserPool,
    htmls: list[str],
    files_roots: list[Path | None] | None = None,
    render: Callable[[str, Path | None, bool], Awaitable[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Render ``htmls`` concurrently (bounded by the pool); results in input order. ``files_roots``:
    per page, its own folder when it is a multi-file page; ``render(html, files_root, last_try)``: how one
    page is rendered (default :func:`render_html`; the render stage also captures the judges' live checks).

    Pages that hit a wall-clock guard (``wall_timeout``) are rendered once more, one at a time after
    the others finished; a second ``wall_timeout`` becomes the final ``timeout`` (:func:`confirm_timeout`).
    """
    roots = files_roots or [None] * len(htmls)
    one = render or (lambda html, root, last_try: render_html(pool, html, root, last_try=last_try))
    rows = list(await asyncio.gather(*(one(h, r, False) for h, r in zip(htmls, roots, strict=True))))
    for i, row in enumerate(rows):
        if row["render_status"] == "wall_timeout":
            rows[i] = confirm_timeout(await one(htmls[i], roots[i], True), row)
    return rows


def confirm_timeout(retry: dict[str, Any], first: dict[str, Any]) -> dict[str, Any]:
    """The row of a page rendered again alone after a ``wall_timeout`` (``first``): the retry's row,
    except that a second ``wall_timeout`` is final: ``timeout``, since the machine was not the cause."""
    if retry.get("render_status") != "wall_timeout":
        return retry
    first_error = str(first.get("render_error") or "").removeprefix("wall_timeout: ")
    retry_error = str(retry.get("render_error") or "").removeprefix("wall_timeout: ")
    return {
        **retry,
        "render_status": "timeout",
        "render_error": f"timeout: {retry_error} (also when rendered alone; first: {first_error})"[:1000],
    }


def _is_timeout(e: BaseException) -> bool:
    return isinstance(e, asyncio.TimeoutError) or "Timeout" in str(e)
