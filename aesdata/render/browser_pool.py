"""A warm pool of Chromium browsers that opens each sample in a fresh, network-sealed context.

Usage (the judges' interactive agent holds the live page the same way the renderer does)::

    async with BrowserPool(RenderConfig()) as pool:
        async with pool.open(html) as session:      # a fresh context, page loaded
            if session.load_error is None:
                await session.page.click("button")  # same routing, blocking and stubbed dialogs
            session.console, session.blocked        # live records of this sample

Per sample: a new browser context (no cookie, storage or JS state survives from one sample to the
next), fixed viewport / device scale / locale / time zone, reduced motion, service workers blocked,
``page_init.js`` (dialogs, ``window.open`` and ``print`` become no-ops; Chart.js does not animate;
``Math.random`` and ``crypto.getRandomValues`` are seeded from the sample: see ``open``).
A dialog the page still opens (``beforeunload``) is dismissed by Playwright itself, which does so
whenever no ``dialog`` listener is attached (the interactive judge attaches its own). The document
is served at ``SAMPLE_URL`` (a real https origin, so ``localStorage`` works).

Clock: every sample runs on Playwright's page clock, paused at ``PAGE_EPOCH`` before the document
loads. ``Date``, ``performance.now``, timers, ``requestAnimationFrame`` and idle callbacks move only
when aesdata advances the clock (:meth:`PageSession.wait`, :func:`page_wait`), in page time: the
page sees the same times in the same order however busy the machine is. (Chromium's own virtual time,
``Emulation.setVirtualTimePolicy``, was the alternative: it also pauses on pending fetches, but it
stalls the protocol waits Playwright's actions and screenshots rely on, and headless frames still
follow wall time; the page clock keeps Playwright's utility world on real timers.) aesdata's own
in-page waits use the real timers kept as ``window.__aesdataNative`` before the clock is installed.
CSS animations and transitions run on the compositor's wall clock and are stopped before any
screenshot (``html._NO_MOTION_CSS``); animated images show their first frame (a launch flag,
``aesdata.browser.LAUNCH_ARGS``); what Chromium delivers in real frames (scroll events, observers) is
let in by :meth:`PageSession.quiet` between steps of page time (:meth:`PageSession.wait`); media
playback is held (``page_init.js``); autoplay by the attribute alone and Web Workers are not controlled.

Network: every request goes through one route handler, the seal of :mod:`aesdata.render.network`
(the document, the sample's own files and the asset store's answers are served; everything else is
refused; all of it recorded). Underneath, the browser is launched with every host name unresolvable
and a proxy that refuses connections, so what escapes request interception (WebSockets, preconnect,
DNS prefetch, WebRTC) cannot reach any host either, loopback included. (WebSockets are not routed:
Playwright's WebSocket routing installs an in-page shim that cost ~25 ms of CPU per sample.)

Browsers are shared by up to ``concurrency / browsers`` samples at once, replaced after
``recycle_every`` samples and after a crash or a context that would not close.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError
from pydantic import Field

from aesdata.browser import LAUNCH_ARGS, BrowserInfo, find_browser
from aesdata.config import StageConfig
from aesdata.render.assets import AssetStore
from aesdata.render.network import SAMPLE_URL, NetworkGuard
from aesdata.resources import machine_cpus

_INIT_JS = (Path(__file__).with_name("page_init.js")).read_text()
_MAX_RECORDS = 200
#: Page time of every sample when its document starts loading (a fixed instant, UTC).
PAGE_EPOCH = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
#: Animation frames run at most this often, in page time (see page_init.js); also the step in which
#: the renderer advances the page clock.
FRAME_MS = 100
#: The real timers and frame, kept before the page clock replaces them (aesdata's own waits).
_NATIVE_JS = """Object.defineProperty(window, "__aesdataNative", { value: Object.freeze({
  setTimeout: window.setTimeout.bind(window),
  clearTimeout: window.clearTimeout.bind(window),
  requestAnimationFrame: window.requestAnimationFrame.bind(window),
}) });"""
#: ``count`` real rendering frames in a row, on the real timers: what the browser delivers in a frame
#: (scroll and resize events, intersection and resize observers, rAF-aligned input) has run when it
#: resolves.
_FRAMES_JS = """(count) => new Promise((resolve) => {
  const n = window.__aesdataNative || window;
  const next = (left) => (left ? n.requestAnimationFrame(() => next(left - 1)) : n.setTimeout(resolve, 0));
  next(count);
})"""
#: Requests in flight are waited on at most this long (wall clock) before a real frame (:meth:`PageSession.quiet`).
_QUIET_REQUESTS_S = 2.0
#: Pages on the page clock: their session and the wall-clock guard of one :func:`page_wait`.
_CLOCKED: weakref.WeakKeyDictionary[Page, tuple[PageSession, float]] = weakref.WeakKeyDictionary()


class RenderConfig(StageConfig):
    """How HTML samples are rendered. Every field changes pixels or timing; all are recorded."""

    viewport_width: int = Field(1280, ge=200, le=4096, description="CSS px (OpenDesign uses 1280x960)")
    viewport_height: int = Field(960, ge=200, le=4096)
    device_scale: float = Field(1.0, gt=0, le=4, description="device pixel ratio of the screenshots")
    max_height: int = Field(8000, ge=200, description="full-page screenshots are cut at this height (CSS px)")
    load_timeout_s: float = Field(
        15.0, gt=0, description="wall-clock guard: document + subresources until the load event"
    )
    settle_timeout_s: float = Field(
        10.0, gt=0, description="wall-clock guard: fonts, scroll-reveal and the page time after load"
    )
    settle_ms: int = Field(
        1000, ge=0, description="page time (ms of the page clock) from load to the screenshot"
    )
    screenshot_timeout_s: float = Field(10.0, gt=0, description="layout capture + both screenshots")
    concurrency: int = Field(0, ge=0, description="samples rendered at once; 0 = sized to the machine")
    browsers: int = Field(0, ge=0, description="warm browser processes; 0 = sized to the machine")
    recycle_every: int = Field(200, ge=1, description="a browser is replaced after this many samples")
    js_heap_mb: int = Field(512, ge=64, description="V8 heap cap per page: memory bombs crash fast")
    scroll_reveal: bool = Field(
        True, description="scroll through the page once so scroll-triggered content shows"
    )
    blank_threshold: float = Field(
        0.001, ge=0, le=1, description="blank when fewer pixels than this differ from the main colour"
    )
    max_layout_elements: int = Field(1500, ge=1, description="layout_json keeps at most this many elements")

    def sized(self) -> tuple[int, int]:
        """Return (concurrency, browsers), resolving 0 = auto from the CPUs this worker has (``machine_cpus``).

        Three samples per CPU (a sample waits on timers and I/O part of the time) and at least two
        browsers: one browser's main thread serialises every context's protocol traffic and
        screenshot encoding (measured on 2 cores: 4 samples on 1 browser kept the CPUs 85% busy,
        6 on 2 browsers 96%)."""
        cpus = machine_cpus()  # the worker's reservation on a cluster
        concurrency = self.concurrency or max(2, min(16, 3 * cpus))
        browsers = self.browsers or min(concurrency, max(2, cpus // 2))
        return concurrency, browsers


@dataclass
class PageSession:
    """One sample open in the pool. ``page`` is live until the ``open`` block exits.

    ``load_error`` is ``None`` when the load event fired; else ``"wall_timeout: ..."`` (the wall-clock
    guard; retried by the callers) or ``"crash: ..."``. ``page_ms``: page time advanced since load;
    ``inflight``: requests of the page not yet answered.
    ``console``: console errors and uncaught exceptions (dicts ``type``, ``text``, ``url``);
    ``blocked``: refused requests (``url``, ``type``, ``reason``); ``assets``: every request for a
    file outside the sample and what answered it (the items of the ``render_assets`` column: ``url``,
    ``kind``, ``answered_by``, ``package``, ``version``, ``requested``, ``file``, ``sri``, ``note``).
    """

    page: Page
    context: BrowserContext
    browser_version: str
    console: list[dict[str, Any]] = field(default_factory=list)
    pageerrors: int = 0
    blocked: list[dict[str, Any]] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)
    popups: int = 0
    crashed: bool = False
    load_error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    page_ms: int = 0
    inflight: int = 0

    async def advance(self, ms: int, timeout_s: float) -> None:
        """Run the page clock ``ms`` forward, firing its timers and frames in order;
        ``asyncio.TimeoutError`` when the page does not come back within ``timeout_s`` of wall time."""
        await asyncio.wait_for(self.page.clock.run_for(ms), timeout_s)
        self.page_ms += ms

    async def frames(self, count: int, timeout_s: float) -> None:
        """Let ``count`` real rendering frames run (``_FRAMES_JS``) while the page clock stands still;
        ``asyncio.TimeoutError`` past ``timeout_s`` (at least 0.1) of wall time."""
        await asyncio.wait_for(self.page.evaluate(_FRAMES_JS, count), max(0.1, timeout_s))

    async def quiet(self, timeout_s: float) -> None:
        """Let what the page started land while its clock stands still: its requests in flight, then one
        real rendering frame, which delivers what browsers deliver per frame (scroll events after a
        jump, observers' callbacks), then the requests that frame started (requests: at most
        ``_QUIET_REQUESTS_S`` of wall time in all). Without it such callbacks ran, and such requests
        were answered and recorded, whenever the machine got to them: before or after an observation.
        ``asyncio.TimeoutError`` past ``timeout_s`` of wall time."""
        deadline = time.perf_counter() + min(timeout_s, _QUIET_REQUESTS_S)
        while self.inflight and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        await self.frames(1, timeout_s)
        while self.inflight and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)

    async def wait(self, ms: int, timeout_s: float) -> None:
        """Let ``ms`` of page time pass (``0``: only let what the page started land): :meth:`quiet`,
        then the page clock advances in ``FRAME_MS`` steps (:meth:`advance`), each followed by
        :meth:`quiet`, so what a step started (a timer, a fetch, a scroll event) lands before the next
        step however busy the machine. ``asyncio.TimeoutError`` when the whole wait exceeds
        ``timeout_s`` of wall time."""
        deadline = time.perf_counter() + timeout_s
        await self.quiet(wall_left(deadline))
        done = 0
        while done < ms:
            step = min(FRAME_MS, ms - done)
            await self.advance(step, wall_left(deadline))
            await self.quiet(wall_left(deadline))
            done += step

    def record(self, target: list[dict[str, Any]], item: dict[str, Any]) -> None:
        """Append ``item`` to ``target`` (one of the record lists above), at most ``_MAX_RECORDS``."""
        if len(target) < _MAX_RECORDS:
            target.append(item)


@dataclass
class _Slot:
    browser: Browser
    uses: int = 0
    active: int = 0
    retiring: bool = False


class BrowserPool:
    """Warm Chromium browsers; :meth:`open` gives one sample a fresh sealed context on one of them.

    ``config``: viewport, timeouts, sizes (:class:`RenderConfig`); ``store``: the asset store
    (default: the filled store at ``$AESDATA_ASSETS``; ``None`` entries block every CDN request).
    Use as ``async with BrowserPool(...) as pool``; all samples must run on the loop that started it.
    """

    def __init__(
        self,
        config: RenderConfig | None = None,
        store: AssetStore | None = None,
        browser: BrowserInfo | None = None,
    ) -> None:
        self.config = config or RenderConfig()
        self.store = store
        self.info = browser or find_browser()
        self.concurrency, self.n_browsers = self.config.sized()
        self._pw: Playwright | None = None
        self._slots: list[_Slot] = []
        self._lock = asyncio.Lock()
        self._sem = asyncio.Semaphore(self.concurrency)
        self._dead_proxy: socket.socket | None = None
        self.launched = 0
        self.version = self.info.label

    # -- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> BrowserPool:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start Playwright and launch the warm browsers."""
        if self._pw is not None:
            return
        # a bound, never-listening loopback port: connecting to it is refused at once
        self._dead_proxy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._dead_proxy.bind(("127.0.0.1", 0))
        self._pw = await async_playwright().start()
        async with self._lock:
            while len(self._slots) < self.n_browsers:
                self._slots.append(_Slot(await self._launch()))

    async def close(self) -> None:
        """Close every browser and Playwright itself."""
        for slot in self._slots:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(slot.browser.close(), 15)
        self._slots.clear()
        if self._pw is not None:
            with contextlib.suppress(Exception):
                await self._pw.stop()
            self._pw = None
        if self._dead_proxy is not None:
            self._dead_proxy.close()
            self._dead_proxy = None

    def launch_args(self) -> list[str]:
        """Chromium flags: the base set plus the network seal and the V8 heap cap."""
        assert self._dead_proxy is not None
        port = self._dead_proxy.getsockname()[1]
        return [
            *LAUNCH_ARGS,
            f"--proxy-server=http://127.0.0.1:{port}",
            "--proxy-bypass-list=<-loopback>",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--dns-prefetch-disable",
            f"--js-flags=--max-old-space-size={self.config.js_heap_mb}",
        ]

    async def _launch(self) -> Browser:
        assert self._pw is not None
        browser = await self._pw.chromium.launch(
            executable_path=self.info.path,
            args=self.launch_args(),
            headless=True,
            chromium_sandbox=False,
            handle_sigint=False,
            handle_sigterm=False,
            handle_sighup=False,
        )
        self.launched += 1
        return browser

    async def _checkout(self) -> _Slot:
        async with self._lock:
            for slot in [s for s in self._slots if not s.browser.is_connected()]:
                slot.retiring = True
                if slot.active == 0:
                    self._slots.remove(slot)
            live = [s for s in self._slots if not s.retiring]
            while len(live) < self.n_browsers:
                slot = _Slot(await self._launch())
                self._slots.append(slot)
                live.append(slot)
            slot = min(live, key=lambda s: s.active)
            slot.active += 1
            slot.uses += 1
            if slot.uses >= self.config.recycle_every:
                slot.retiring = True
            return slot

    async def _checkin(self, slot: _Slot, broken: bool) -> None:
        async with self._lock:
            slot.active -= 1
            if broken or not slot.browser.is_connected():
                slot.retiring = True
            if slot.retiring and slot.active == 0 and slot in self._slots:
                self._slots.remove(slot)
                retired = slot
            else:
                retired = None
        if retired is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(retired.browser.close(), 15)

    # -- one sample ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def open(
        self, html: str, files_root: Path | None = None, seed: str | None = None
    ) -> AsyncIterator[PageSession]:
        """Open ``html`` in a fresh sealed context; yield the :class:`PageSession` once loaded.

        ``files_root``: the sample's own folder (a multi-file page): its files are served at
        ``SAMPLE_ORIGIN`` + their path in the folder, as a static server would serve them.
        The page's clock is paused at ``PAGE_EPOCH``; its randomness is seeded from ``seed``
        (default: the document itself, so every path that opens the same sample sees the same
        numbers). A load that times out or crashes still yields (``session.load_error`` says why);
        the context is closed when the block exits, and a browser that misbehaved is replaced.
        """
        if self._pw is None:
            await self.start()
        async with self._sem:
            slot = await self._checkout()
            broken = False
            context: BrowserContext | None = None
            session: PageSession | None = None
            try:
                t0 = time.perf_counter()
                context = await slot.browser.new_context(
                    viewport={"width": self.config.viewport_width, "height": self.config.viewport_height},
                    device_scale_factor=self.config.device_scale,
                    reduced_motion="reduce",
                    color_scheme="light",
                    locale="en-US",
                    timezone_id="UTC",
                    service_workers="block",
                    accept_downloads=False,
                )
                page = await context.new_page()
                session = PageSession(page=page, context=context, browser_version=self.version)
                guard = NetworkGuard(html, self.store, session, files_root)
                await page_treatment(context, seed or html)
                _CLOCKED[page] = (session, self.config.settle_timeout_s)
                await context.route("**/*", guard.handle)
                _watch(session)
                session.timings["context_ms"] = elapsed_ms(t0)
                t1 = time.perf_counter()
                try:
                    await asyncio.wait_for(
                        _load_page(page, self.config.load_timeout_s), self.config.load_timeout_s + 5
                    )
                except asyncio.TimeoutError:
                    session.load_error = (
                        f"wall_timeout: no load event within {self.config.load_timeout_s:g} s of wall time"
                    )
                except PlaywrightError as e:
                    kind = (
                        "crash" if session.crashed else ("wall_timeout" if "Timeout" in str(e) else "error")
                    )
                    session.load_error = f"{kind}: {one_line(e)}"
                session.timings["load_ms"] = elapsed_ms(t1)
                yield session
                broken = session.crashed
            except PlaywrightError:
                broken = True
                raise
            finally:
                if context is not None:
                    t2 = time.perf_counter()
                    try:
                        await asyncio.wait_for(context.close(), 10)
                    except Exception:
                        broken = True  # a context that will not close: replace the whole browser
                    if session is not None:
                        session.timings["close_ms"] = elapsed_ms(t2)
                await self._checkin(slot, broken)


#: Resolves once the document is complete (polled: a page that navigates away while loading is
#: answered 204 and stays, and never reports a load event).
_COMPLETE_JS = """() => new Promise((resolve) => {
  const wait = (window.__aesdataNative || window).setTimeout;
  const check = () => (document.readyState === "complete" ? resolve() : wait(check, 25));
  check();
})"""


async def _load_page(page: Page, timeout_s: float) -> None:
    """Navigate to the sample and wait until its document is complete (``asyncio.TimeoutError``
    after ``timeout_s``).

    A plain ``evaluate`` rather than ``page.wait_for_function``, which first injects Playwright's
    selector engine into the page: ~40 ms of CPU per sample (measured on a trivial page).
    """
    t0 = time.perf_counter()
    await page.goto(SAMPLE_URL, wait_until="commit", timeout=timeout_s * 1000)
    for _ in range(3):  # a document replaced while loading (about:blank, document.open) is waited on anew
        left = max(0.1, timeout_s - (time.perf_counter() - t0))
        try:
            await asyncio.wait_for(page.evaluate(_COMPLETE_JS), left)
            return
        except PlaywrightError as e:
            if "context was destroyed" not in str(e):
                raise


async def page_treatment(target: BrowserContext | Page, seed: str) -> None:
    """Prepare ``target`` (before its document loads) as the pool prepares every sample: the real
    timers kept, the page clock paused at ``PAGE_EPOCH``, then ``page_init.js`` seeded from ``seed``."""
    await target.add_init_script(_NATIVE_JS)
    await target.clock.pause_at(PAGE_EPOCH)
    await target.add_init_script(f"({_INIT_JS})({json.dumps(_init_options(seed))});")


def _init_options(seed: str) -> dict[str, Any]:
    """The options of ``page_init.js``: four 32-bit seed words (SHA-256 of ``seed``) and the frame step."""
    digest = hashlib.sha256(seed.encode("utf-8", "replace")).digest()
    return {
        "seed": [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)],
        "frameMs": FRAME_MS,
    }


async def page_wait(page: Page, ms: int) -> None:
    """Let ``ms`` of page time pass (``0``: only let what the page started land) on a page opened by a
    pool, as the renderer's settle does: :meth:`PageSession.wait`, so a page's response to an action
    is observed at the same point of its page time however busy the machine. Wall-clock guard: the
    pool's ``settle_timeout_s`` for the whole wait, ``asyncio.TimeoutError`` past it. Outside a pool:
    real time."""
    clocked = _CLOCKED.get(page)
    if clocked is None:
        await asyncio.sleep(ms / 1000)
        return
    session, guard_s = clocked
    await session.wait(ms, guard_s)


def wall_left(deadline: float) -> float:
    """Seconds of wall time left before ``deadline`` (a ``time.perf_counter()`` value);
    ``asyncio.TimeoutError`` when none are."""
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise asyncio.TimeoutError
    return remaining


def _watch(session: PageSession) -> None:
    """Attach the event listeners that fill ``session``'s records."""
    page = session.page

    def on_request(_: Any) -> None:
        session.inflight += 1

    def on_request_done(_: Any) -> None:
        session.inflight = max(0, session.inflight - 1)

    page.on("request", on_request)
    page.on("requestfinished", on_request_done)
    page.on("requestfailed", on_request_done)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            text = msg.text
            session.record(
                session.console,
                {
                    "type": "console",
                    "text": text[:500],
                    "url": str(loc.get("url", ""))[:300],
                    "blocked_resource": text.startswith("Failed to load resource")
                    and "ERR_BLOCKED_BY_CLIENT" in text,
                },
            )

    def on_pageerror(error: Any) -> None:
        session.pageerrors += 1
        session.record(
            session.console,
            {
                "type": "pageerror",
                "text": f"{error.name}: {error.message}"[:500],
                "url": "",
                "blocked_resource": False,
            },
        )

    def on_websocket(ws: Any) -> None:  # the seal refuses the connection; this records the attempt
        session.record(session.blocked, {"url": ws.url[:500], "type": "websocket", "reason": "websocket"})

    def on_crash(_: Any) -> None:
        session.crashed = True

    def on_popup(popup: Page) -> None:
        session.popups += 1
        session.record(session.blocked, {"url": popup.url[:500], "type": "popup", "reason": "popup"})
        asyncio.ensure_future(_close_quietly(popup))

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)
    page.on("websocket", on_websocket)
    page.on("crash", on_crash)
    session.context.on("page", on_popup)


async def _close_quietly(page: Page) -> None:
    with contextlib.suppress(PlaywrightError):
        await page.close()


def elapsed_ms(t0: float) -> float:
    """Milliseconds since ``t0`` (a ``time.perf_counter()`` value), one decimal."""
    return round((time.perf_counter() - t0) * 1000, 1)


def one_line(e: BaseException) -> str:
    """The first line of an exception's text (at most 300 characters), for status messages."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def records_json(items: list[dict[str, Any]]) -> str:
    """Serialise a session record list for a ``*_json`` column."""
    return json.dumps(items, ensure_ascii=False)
