"""Same page, same pixels: the page clock, seeded randomness, and a bounded verdict on every path.

Pages run on a paused page clock with seeded ``Math.random`` / ``crypto``; these tests render pages that
draw random numbers, the time and animation twice (the second time with the CPUs saturated) and compare
PNG bytes. Then a page that starts an endless loop 0.5 s (page time) after load gets a status within a
bound on each path: the build (render + judge stages), ``aesdata score`` and the reward function.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import json
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aesdata.judges import capture, interactive
from aesdata.judges.runner import JudgeConfig, Judges
from aesdata.query import run_sql
from aesdata.render.assets import AssetPolicy, AssetStore
from aesdata.render.browser_pool import BrowserPool, PageSession, RenderConfig
from aesdata.render.html import render_html, render_many
from aesdata.render.network import SAMPLE_URL
from aesdata.train.rewards import RewardJudge, reward_functions
from tests.frame_helpers import cli
from tests.render_helpers import LoopPool

RANDOM_PAGE = """<!DOCTYPE html><html><body style="font-family:sans-serif"><canvas id="c" width="480" height="240"></canvas>
<p id="p"></p><script>
const x = document.getElementById("c").getContext("2d");
const bytes = crypto.getRandomValues(new Uint8Array(64));
for (let i = 0; i < 300; i++) {
  x.fillStyle = `hsl(${Math.random() * 360}, 70%, ${30 + bytes[i % 64] / 6}%)`;
  x.fillRect(Math.random() * 480, Math.random() * 240, 18, 18);
}
document.getElementById("p").textContent = [Date.now(), new Date().toISOString(), performance.now(),
  crypto.randomUUID()].join(" | ");
</script></body></html>"""

ANIMATED_PAGE = """<!DOCTYPE html><html><head><style>
@keyframes spin { to { transform: rotate(360deg); } }
#sq { width: 60px; height: 60px; background: #2563eb; animation: spin 1.3s linear infinite; }
</style></head><body style="font-family:sans-serif"><canvas id="c" width="480" height="200"></canvas>
<div id="sq"></div><div id="w" style="width:40px;height:40px;background:#f97316"></div><p id="t"></p><script>
const x = document.getElementById("c").getContext("2d");
const t0 = performance.now();
const draw = (t) => {
  x.fillStyle = "#fff"; x.fillRect(0, 0, 480, 200);
  for (let i = 0; i < 40; i++) {
    x.fillStyle = `hsl(${(i * 9 + t / 7) % 360}, 80%, 50%)`;
    x.beginPath(); x.arc(240 + 150 * Math.cos(i + t / 300), 100 + 70 * Math.sin(i * 1.7 + t / 200), 8, 0, 7); x.fill();
  }
  requestAnimationFrame(draw);
};
requestAnimationFrame(draw);
let n = 0; setInterval(() => { document.getElementById("t").textContent = "tick " + (++n) + " at " + Date.now(); }, 37);
document.getElementById("w").animate([{ transform: "translateX(0)" }, { transform: "translateX(400px)" }],
  { duration: 2000, iterations: Infinity });
</script></body></html>"""

#: an endless loop that starts half a second of page time after load
LATE_LOOP_PAGE = """<!DOCTYPE html><html><head><title>late loop</title></head><body style="font-family:sans-serif">
<h1>A page that hangs half a second after load</h1><p>Some text so that the page is not blank.</p>
<button onclick="this.textContent = 'clicked'">Press</button>
<script>addEventListener("load", () => setTimeout(() => { while (true) {} }, 500));</script></body></html>"""

FAST = RenderConfig(concurrency=2, browsers=1, load_timeout_s=8, settle_timeout_s=4, screenshot_timeout_s=8)


def _spin(stop: float) -> None:
    while time.monotonic() < stop:
        pass


@contextlib.contextmanager
def cpu_hog(seconds: float, procs: int = 2) -> Iterator[None]:
    """Saturate ``procs`` cores with busy loops for at most ``seconds`` (stopped on exit)."""
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_spin, args=(time.monotonic() + seconds,), daemon=True) for _ in range(procs)
    ]
    for w in workers:
        w.start()
    try:
        yield
    finally:
        for w in workers:
            w.terminate()
            w.join(5)


def _digest(row: dict) -> str:
    assert row["render_status"] == "ok", row["render_error"]
    return hashlib.sha256(row["screenshot"]["bytes"]).hexdigest()


@pytest.fixture(scope="module")
def lp() -> Iterator[LoopPool]:
    pool = LoopPool(FAST, store=None)
    yield pool
    pool.close()


def test_seeded_randomness_and_the_page_clock_give_the_same_pixels(lp: LoopPool) -> None:
    first = lp.run(render_html(lp.pool, RANDOM_PAGE))
    second = lp.run(render_html(lp.pool, RANDOM_PAGE))
    assert _digest(first) == _digest(second)
    text = next(e["text"] for e in json.loads(first["layout_json"])["elements"] if e["id"] == "p")
    stamp, iso, now, uuid = text.split(" | ")
    assert (
        iso == "2025-06-02T09:00:00.000Z" and stamp == "1748854800000" and now == "0"
    )  # load at page time 0
    assert uuid[14] == "4" and len(uuid) == 36
    other = lp.run(render_html(lp.pool, RANDOM_PAGE, seed="another sample"))
    assert _digest(other) != _digest(first)  # the seed is per sample


def test_an_animated_page_renders_the_same_twice_even_on_a_busy_machine(lp: LoopPool) -> None:
    quiet = lp.run(render_html(lp.pool, ANIMATED_PAGE))
    with cpu_hog(20):
        busy = lp.run(render_html(lp.pool, ANIMATED_PAGE))
    assert _digest(quiet) == _digest(busy)
    meta = json.loads(quiet["render_meta_json"])
    assert meta["page_ms"] == FAST.settle_ms  # the screenshot is taken at a fixed page time
    text = next(e["text"] for e in json.loads(busy["layout_json"])["elements"] if e["id"] == "t")
    assert text == f"tick {FAST.settle_ms // 37} at {1748854800000 + 37 * (FAST.settle_ms // 37)}"


def test_the_interactive_agent_waits_in_page_time(lp: LoopPool) -> None:
    """A control that answers 250 ms of page time after a click is seen answering however slow the
    machine; the trace is the same twice."""
    html = """<!DOCTYPE html><html><body><h1>Delayed</h1><button id="b"
      onclick="setTimeout(() => { document.getElementById('o').textContent = 'done ' + Date.now(); }, 250)">Go</button>
      <p id="o">waiting</p><canvas id="c" width="300" height="80"></canvas><script>
      const x = document.getElementById("c").getContext("2d");
      const f = (t) => { x.fillStyle = `hsl(${t / 5 % 360}, 70%, 50%)`; x.fillRect(0, 0, 300, 80); requestAnimationFrame(f); };
      requestAnimationFrame(f);</script></body></html>"""

    async def episode() -> list[dict]:
        async with lp.pool.open(html) as s:
            result = await interactive.explore(s.page, max_actions=1, max_scored=1, settle_ms=300)
            return result.trace

    first = lp.run(episode())
    with cpu_hog(15):
        second = lp.run(episode())
    assert first == second
    assert first[0]["outcome"] == "changed" and first[0]["mutations"] >= 1, first


def test_in_page_links_jump_after_the_render_on_a_smooth_scrolling_page(lp: LoopPool) -> None:
    """``scroll-behavior: smooth`` scrolls on the wall clock; after the render's motion freeze a click
    on an in-page link (what the interactive agent does) lands at once, however busy the machine."""
    html = """<!DOCTYPE html><html style="scroll-behavior: smooth"><body style="margin:0">
      <h1>Smooth</h1><a id="go" href="#far">Down</a><div style="height:3000px;background:#2563eb"></div>
      <h2 id="far">Far</h2></body></html>"""

    async def live(session: PageSession) -> dict:
        await session.page.click("#go")
        return {"scroll_y": await session.page.evaluate("scrollY")}

    row = lp.run(render_html(lp.pool, html, live=live))
    assert row["render_status"] == "ok", row["render_error"]
    assert row["scroll_y"] > 2000  # smooth scrolling would still be near the top


def test_a_timer_that_throws_is_the_page_s_error_and_the_render_still_settles(lp: LoopPool) -> None:
    """jQuery runs ready handlers from a timer; one that throws (a library that did not load) is an
    uncaught error of the page, and the page still reaches its screenshot's page time."""
    html = """<!DOCTYPE html><html><body><h1>Ready handler</h1><p id="p">before</p><script>
      setTimeout(() => { AOS.init(); }, 0);
      setTimeout("document.getElementById('p').textContent = 'after ' + Date.now()", 300);
      </script></body></html>"""
    row = lp.run(render_html(lp.pool, html))
    assert row["render_status"] == "js_error" and "AOS is not defined" in row["render_error"], row
    meta = json.loads(row["render_meta_json"])
    assert meta["settled"] and meta["page_ms"] == FAST.settle_ms
    text = next(e["text"] for e in json.loads(row["layout_json"])["elements"] if e["id"] == "p")
    assert text == "after 1748854800300"


def _animated_gif() -> str:
    """A looping GIF of four 100 ms frames (red, blue, green, yellow) as a data URL."""
    from PIL import Image

    colours = ((255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0))
    frames = [Image.new("RGB", (120, 120), c) for c in colours]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return "data:image/gif;base64," + base64.b64encode(buf.getvalue()).decode()


def test_an_animated_image_shows_its_first_frame(lp: LoopPool) -> None:
    """GIF frames advance on the wall clock (a preloader GIF gave a different screenshot on 3 renders
    in 4 of a real page): animated images show their first frame, as an <img> and as a CSS background."""
    from PIL import Image

    gif = _animated_gif()
    html = f"""<!DOCTYPE html><html><body style="margin:0"><h1 style="margin:0;height:40px">GIF</h1>
      <img src="{gif}" style="display:block"><div style="width:120px;height:120px;background:url({gif})"></div>
      </body></html>"""
    quiet = lp.run(render_html(lp.pool, html))
    with cpu_hog(15):
        busy = lp.run(render_html(lp.pool, html))
    assert _digest(quiet) == _digest(busy)
    with Image.open(io.BytesIO(quiet["screenshot"]["bytes"])) as shot:
        rgb = shot.convert("RGB")
        assert rgb.getpixel((60, 100)) == (255, 0, 0) and rgb.getpixel((60, 220)) == (255, 0, 0)
    # the same launch flag carries Playwright's pointer settings: the page still sees a mouse
    hover = """<style>#m { color: red; font-size: 40px } @media (hover: hover) and (pointer: fine) { #m { color: blue } }
      </style><h1 id="m">Which pointer</h1><p>Some text so that the page is not blank.</p>"""
    row = lp.run(render_html(lp.pool, hover))
    (m,) = [e for e in json.loads(row["layout_json"])["elements"] if e["id"] == "m"]
    assert m["color"] == "rgb(0, 0, 255)"


def test_a_link_to_the_page_itself_is_a_refused_navigation(lp: LoopPool) -> None:
    """A second document loaded while the agent observed (a link to index.html on a real page: 1.0 on one
    build, 0.0 on the other): once shown, the sample document is not served to the main frame again;
    a link to it, a reload and a form posted to it are refused navigations and the page stays."""
    html = """<!DOCTYPE html><html><body><nav><a id="home" href="index.html">Home</a></nav>
      <form method="post" action="index.html"><input name="q"><button id="send">Send</button></form>
      <button id="again" onclick="location.reload()">Again</button><p>text</p></body></html>"""

    async def run() -> tuple[list[dict], list[dict], int]:
        async with lp.pool.open(html) as s:
            await s.page.evaluate("window.__mark = 7")
            for sel in ("#home", "#send", "#again"):
                await s.page.click(sel)
                await interactive.page_wait(s.page, 200)
            mark = await s.page.evaluate("window.__mark")
            result = await interactive.explore(s.page, max_actions=3, max_scored=3, blocked=s.blocked)
            return result.trace, list(s.blocked), mark

    trace, blocked, mark = lp.run(run())
    assert mark == 7  # the same document throughout
    navigations = [b for b in blocked if b["reason"] == "navigation" and b["url"] == SAMPLE_URL]
    assert len(navigations) >= 4, blocked
    assert {t["target"] for t in trace} == {'button "Again"', "form", 'a "Home"'}, trace
    assert all(t["outcome"] == "navigated" for t in trace), trace


def test_scroll_events_land_before_the_agent_observes(lp: LoopPool) -> None:
    """Scroll events (and observers) are delivered in real frames, not by the page clock: a jump, then a
    page-time wait, delivers them however busy the machine. The agent scrolls a far control into view
    before its baseline, so the page's answer to that scroll is not counted as the page moving by itself
    (a real page's header restyled on scroll: idle_mutations 6, 0 or 3 from build to build)."""
    html = """<!DOCTYPE html><html><body style="margin:0"><header id="h" style="position:fixed;top:0">top</header>
      <p id="seen">none</p><div style="height:4000px"></div>
      <form onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'sent ' + this.q.value">
      <input name="q"><button>Send</button></form><p id="out"></p><script>
      addEventListener("scroll", () => {
        document.getElementById("h").className = scrollY > 50 ? "down" : "up";
        document.getElementById("seen").textContent = "at " + scrollY;
      });</script></body></html>"""

    async def run() -> tuple[list[str], list[dict]]:
        seen = []
        async with lp.pool.open(html) as s:
            for y in (500, 1000, 0):
                await s.page.evaluate("(y) => scrollTo({top: y, behavior: 'instant'})", y)
                await interactive.page_wait(s.page, 0)
                seen.append(await s.page.evaluate("document.getElementById('seen').textContent"))
            result = await interactive.explore(s.page, max_actions=1, max_scored=1, settle_ms=200)
            return seen, result.trace

    first = lp.run(run())
    with cpu_hog(15):
        second = lp.run(run())
    assert first == second
    seen, trace = first
    assert seen == ["at 500", "at 1000", "at 0"]
    assert trace[0]["target"] == "form" and trace[0]["idle_mutations"] == 0, trace
    assert trace[0]["outcome"] == "changed" and trace[0]["content_changed"], trace


def test_the_scroll_through_the_page_is_instant_on_a_smooth_scrolling_page(lp: LoopPool) -> None:
    """The render's scroll through the page runs before the motion freeze; with ``scroll-behavior:
    smooth`` it moved on the wall clock, so the scroll events a page answered (a back-to-top button shown
    in the markup, hidden by the page's first scroll event) depended on the machine."""
    html = """<!DOCTYPE html><html style="scroll-behavior: smooth"><body style="margin:0">
      <h1>Smooth</h1><p id="seen">none</p><a id="top" class="shown" href="#">back to top</a>
      <div style="height:3000px;background:linear-gradient(#2563eb, #f97316)"></div>
      <script>const seen = [];
      addEventListener("scroll", () => {
        seen.push(scrollY);
        document.getElementById("seen").textContent = seen.join(",");
        document.getElementById("top").className = scrollY >= 50 ? "shown" : "";
      });</script></body></html>"""
    rows = [lp.run(render_html(lp.pool, html))]
    with cpu_hog(15):
        rows.append(lp.run(render_html(lp.pool, html)))
    assert _digest(rows[0]) == _digest(rows[1])
    for row in rows:
        elements = {e["id"]: e for e in json.loads(row["layout_json"])["elements"] if e["id"]}
        assert elements["seen"]["text"] == "960,1920,2172,1920,960,480,0", elements["seen"]
        assert elements["top"]["cls"] == "", elements["top"]


def test_the_scroll_through_comes_back_up_the_way_a_user_scrolls(lp: LoopPool) -> None:
    """A header hidden while the page scrolls down is shown again by a scroll event going up, and only
    below the top (the handler of a real restaurant page, grilli): after a jump straight from the
    bottom to the top the page was captured with its header hidden, as no visitor sees it."""
    html = """<!DOCTYPE html><html><body style="margin:0">
      <header id="head" style="position:fixed;top:0;width:100%;height:80px;background:#111;color:#fff">Site</header>
      <div style="height:5000px;background:linear-gradient(#fde68a, #1e3a8a)"></div>
      <script>let last = 0; const head = document.getElementById("head");
      addEventListener("scroll", () => {
        if (scrollY >= 50) { head.className = last < scrollY ? "hide" : ""; last = scrollY; }
      });</script></body></html>"""
    row = lp.run(render_html(lp.pool, html))
    elements = {e["id"]: e for e in json.loads(row["layout_json"])["elements"] if e["id"]}
    assert elements["head"]["cls"] == "", elements["head"]


def test_media_playback_is_held(lp: LoopPool) -> None:
    """A sound plays on the wall clock: its ``ended`` handler (a piano key restyled back) ran before,
    during or after the agent's observation. Playback is held: play() resolves and the element reports
    playing, in page time, and it never ends."""
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)  # 0.1 s of silence
    wav = "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()
    html = f"""<!DOCTYPE html><html><body><h1>Key</h1><p id="out">idle</p><script>
      const a = new Audio("{wav}"), out = document.getElementById("out");
      a.addEventListener("playing", () => {{ out.textContent += " playing"; }});
      a.addEventListener("ended", () => {{ out.textContent += " ended"; }});
      </script><button onclick="a.currentTime = 0; a.play().then(() => {{ out.textContent = 'played'; }})">Key</button>
      </body></html>"""

    async def run() -> list:
        async with lp.pool.open(html) as s:
            await s.page.click("button")
            await interactive.page_wait(s.page, 200)
            await asyncio.sleep(0.6)  # wall time: a real clip of 0.1 s would have ended
            await interactive.page_wait(s.page, 100)
            return await s.page.evaluate("[out.textContent, a.paused, a.ended]")

    assert lp.run(run()) == ["played playing", False, False]


def test_what_the_full_page_screenshot_requests_is_recorded(tmp_path: Path) -> None:
    """A full-page screenshot lays the page out at its full height, which can request a web font that
    nothing requested before (a real page's icon font, for an icon hidden at desktop widths). Its
    answer (a store lookup in a thread: slow on a busy machine, slower here) lands and is recorded
    before the render's records are read: the font was in render_assets on one build, not the other."""

    class SlowStore(AssetStore):
        def lookup(self, url: str) -> Any:
            if url.endswith(".woff2"):
                time.sleep(0.4)
            return super().lookup(url)

    html = """<!DOCTYPE html><html><head><style>
      @font-face { font-family: Icons; src: url("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.4.2/webfonts/fa-solid-900.woff2"); }
      #icon { display: none; font-family: Icons; }
      @media (max-width: 600px) { #icon { display: inline; } }
      </style></head><body><h1>Icons</h1><i id="icon">menu</i>
      <div style="height:2500px;background:linear-gradient(#2563eb, #f97316)"></div></body></html>"""
    pool = LoopPool(FAST, store=SlowStore(tmp_path, policy=AssetPolicy(network="offline")))
    try:
        row = pool.run(render_html(pool.pool, html))
    finally:
        pool.close()
    assert row["render_status"] == "ok", row["render_error"]
    (font,) = [a for a in row["render_assets"] if a["url"].endswith("fa-solid-900.woff2")]
    assert font["answered_by"] == "blocked" and "offline" in font["note"]


SCALED_IMAGES_PAGE = """<!DOCTYPE html><html><head><style>
body { margin: 0; display: flex; flex-direction: column; align-items: center; height: 100vh;
  justify-content: center; background: pink; }
h1 { font-size: 50px; height: 60.5px; margin: 0 0 40px; }
.btn { padding: 30px 50px; background-color: white; border: none; margin: 10px; font-size: 30px;
  min-width: 200px; border-radius: 10px; box-shadow: 0 4px 8px rgba(0,0,0,0.3); background-size: cover; }
</style><script src="index.js" defer></script></head><body><h1>Drums</h1><div id="c"></div></body></html>"""
SCALED_IMAGES_JS = """for (const k of ["a", "b", "c", "d"]) {
  const b = document.createElement("button"); b.className = "btn"; b.innerText = k;
  b.style.backgroundImage = "url(img/" + k + ".png)"; document.getElementById("c").appendChild(b);
}"""


def test_a_viewport_capture_is_a_fresh_raster_of_the_settled_page(lp: LoopPool, tmp_path: Path) -> None:
    """A page no taller than the viewport is captured from the tiles the compositor holds. What those
    held depended on the page's raster history: buttons at a half-pixel offset whose scaled background
    images arrive after the first paint (the real page javascript-mini-projects-drum-aditya7302) were
    captured differently from a raster of the same page from scratch (what a taller page's capture, or
    a busier machine's timing, gave): 12 renders in 12 before the fix. Now the capture is rastered
    afresh (``html._fresh_raster``): it equals a beyond-viewport capture of the same load."""
    import numpy as np
    from PIL import Image

    from aesdata.render.html import _screenshot

    (tmp_path / "img").mkdir()
    (tmp_path / "index.js").write_text(SCALED_IMAGES_JS)
    rng = np.random.default_rng(7)
    for k, (w, h) in zip("abcd", [(194, 441), (269, 269), (133, 183), (166, 150)], strict=True):
        yy, xx = np.mgrid[0:h, 0:w]
        rgb = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 64 * 4], -1) + rng.integers(
            0, 60, (h, w, 3)
        )
        Image.fromarray(np.clip(rgb, 0, 255).astype("uint8"), "RGB").save(tmp_path / "img" / f"{k}.png")

    async def fresh(session: PageSession) -> dict[str, Any]:
        return {"fresh": await _screenshot(session, FAST.viewport_width, FAST.viewport_height, True, 1.0, 10)}

    def pixels(png: bytes) -> Any:
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    for _ in range(3):
        row = lp.run(render_html(lp.pool, SCALED_IMAGES_PAGE, tmp_path, live=fresh))
        assert row["render_status"] == "ok", row["render_error"]
        assert row["screenshot_height"] == FAST.viewport_height  # the viewport-only capture
        assert np.array_equal(pixels(row["screenshot"]["bytes"]), pixels(row["fresh"]))


def test_a_refused_file_asked_for_twice_is_listed_once(lp: LoopPool) -> None:
    """Chromium shares one request between two elements asking for a file while it is in flight and
    requests it again once it has failed, so how often a refused file was requested depended on when
    the refusal landed (a stylesheet both linked and @import-ed: once on one build, twice on the other).
    Here the second element comes 300 ms of page time after the first refusal: still listed once."""
    url = "https://fonts.example.com/css?family=Display"
    html = f"""<!DOCTYPE html><html><head><link rel="stylesheet" href="{url}"></head><body><h1>Twice</h1>
      <p>Some text so that the page is not blank.</p><script>setTimeout(() => {{
        const l = document.createElement("link"); l.rel = "stylesheet"; l.href = "{url}";
        document.head.appendChild(l); }}, 300);</script></body></html>"""
    row = lp.run(render_html(lp.pool, html))
    assert row["render_status"] == "ok", row["render_error"]
    assert [a["url"] for a in row["render_assets"]] == [url]
    assert [b["url"] for b in json.loads(row["blocked_requests_json"])] == [url]
    messages = [c for c in json.loads(row["console_errors_json"]) if c["blocked_resource"]]
    assert len(messages) == 1, messages


def test_a_wall_clock_guard_is_retried_alone_before_it_is_final(lp: LoopPool) -> None:
    t0 = time.monotonic()
    alone = lp.run(render_html(lp.pool, LATE_LOOP_PAGE))
    assert alone["render_status"] == "wall_timeout", alone["render_error"]
    (final,) = lp.run(render_many(lp.pool, [LATE_LOOP_PAGE]))
    assert final["render_status"] == "timeout" and "also when rendered alone" in final["render_error"]
    assert "page time 500 ms" in final["render_error"] or "page time 400 ms" in final["render_error"]
    assert time.monotonic() - t0 < 3 * (FAST.settle_timeout_s + FAST.load_timeout_s + 12)
    ok = lp.run(render_html(lp.pool, RANDOM_PAGE))  # the pool goes on
    assert ok["render_status"] == "ok"


# ------------------------------------------------------------------------- bounded on every path
def test_build_path_gives_the_late_loop_page_a_status(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"instruction": "a page", "kind": "html", "code": LATE_LOOP_PAGE})
        + "\n"
        + json.dumps({"instruction": "a random page", "kind": "html", "code": RANDOM_PAGE})
        + "\n"
    )
    (tmp_path / "p.yaml").write_text(
        "name: loop\nstages:\n  - stage: read_corpus\n    path: c.jsonl\n"
        "  - stage: render\n    require_assets: false\n    settle_timeout_s: 4\n  - stage: judge\n"
    )
    t0 = time.monotonic()
    res = cli("build", "p.yaml", "--out", str(tmp_path / "run"), cwd=tmp_path, timeout=300)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr[-2000:]
    rows = run_sql(
        tmp_path / "run", "SELECT instruction, render_status, exec_pass, reward FROM samples ORDER BY 1"
    ).to_pylist()
    assert [(r["instruction"], r["render_status"]) for r in rows] == [
        ("a page", "timeout"),
        ("a random page", "ok"),
    ]
    assert rows[0]["exec_pass"] is False and rows[0]["reward"] is not None
    assert elapsed < 200


def test_score_path_gives_the_late_loop_page_a_status(tmp_path: Path) -> None:
    page = tmp_path / "late.html"
    page.write_text(LATE_LOOP_PAGE)
    t0 = time.monotonic()
    res = cli("score", str(page), "--json", cwd=tmp_path, timeout=150)
    assert res.returncode == 1, res.stderr[-2000:]  # scored, and it failed execution
    (verdict,) = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert verdict["status"] == "timeout" and verdict["exec_pass"] is False
    assert time.monotonic() - t0 < 120


def test_reward_path_gives_the_late_loop_page_a_status() -> None:
    async def run() -> list[float | None]:
        judge = RewardJudge(JudgeConfig())
        try:
            fn = {f.__name__: f for f in reward_functions(judge=judge)}["aesthetic_reward"]
            completion = f"```html\n{LATE_LOOP_PAGE}\n```"
            return await asyncio.wait_for(fn(["make a page"], [completion], kind=["html"]), 120)
        finally:
            await judge.aclose()

    (reward,) = asyncio.run(run())
    assert reward is not None and reward <= 0


def test_a_page_that_hangs_while_the_agent_acts_still_gets_its_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The in-page checks and the episode are bounded: a click that starts an endless loop ends the
    episode at the live budget, with the page's scores kept and the reason recorded."""
    monkeypatch.setattr(capture, "LIVE_BUDGET_S", 8.0)
    html = """<!DOCTYPE html><html><head><title>t</title></head><body style="font-family:sans-serif">
      <h1>Hangs on click</h1><p>Readable text on a plain page.</p>
      <button onclick="while (true) {}">Freeze</button></body></html>"""

    async def run() -> dict:
        async with Judges(JudgeConfig(), render_config=FAST) as judges:
            (row,) = await judges.render_and_judge([{"kind": "html", "code": html, "instruction": "x"}])
            return row

    t0 = time.monotonic()
    row = asyncio.run(run())
    assert time.monotonic() - t0 < 60
    assert row["render_status"] == "ok" and row["static_score"] is not None
    trace = json.loads(row["interactive_trace_json"] or "[]")
    stopped = "in-page checks stopped" in row["exec_findings_json"]
    assert stopped or (trace and trace[0]["outcome"] in ("unreachable", "error")), (
        trace,
        row["exec_findings_json"],
    )
    assert row["interactive_score"] == 0


def test_score_refuses_a_binary_html_file(tmp_path: Path) -> None:
    page = tmp_path / "shot.html"
    page.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    res = cli("score", str(page), cwd=tmp_path, timeout=60)
    assert res.returncode == 1
    assert "binary file" in res.stderr and "Traceback" not in res.stderr + res.stdout
    assert len([line for line in res.stderr.strip().splitlines() if line.strip()]) <= 4  # one paragraph


def test_page_wait_outside_a_pool_is_real_time() -> None:
    async def run() -> float:
        async with BrowserPool(FAST) as pool, pool.open("<p>x</p>") as s:
            page = await s.context.new_page()  # not opened by the pool: no page clock
            t0 = time.perf_counter()
            await interactive.page_wait(page, 300)
            return time.perf_counter() - t0

    assert asyncio.run(run()) >= 0.29
