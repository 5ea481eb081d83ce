"""HTML rendering: the asset store, the pool's isolation and capture, and the render stage.

Real parts only: the Chromium on this machine, the asset store filled from npm, Parquet-typed output.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from aesdata.browser import BrowserInfo, find_browser
from aesdata.errors import AesdataError
from aesdata.render.asset_lock import LockedPackage, fill_store, load_lock
from aesdata.render.browser_pool import RenderConfig
from aesdata.render.html import blank_fraction, render_html, render_many
from aesdata.stage import StageContext
from aesdata.stages.render import Render, RenderStageConfig
from tests.render_helpers import LoopPool, filled_store

DASHBOARD = """<!doctype html><html><head>
<script src="https://cdn.tailwindcss.com"></script>
<link href="https://fonts.googleapis.com/css2?family=Poppins:wght@400;700&display=swap" rel="stylesheet">
<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.4.0/css/all.min.css">
<script src="https://cdn.jsdelivr.net/npm/chart.js@4.4.0/dist/chart.umd.min.js"></script>
<style>body { font-family: 'Poppins', sans-serif; }</style></head>
<body class="bg-slate-900 text-white p-10">
<h1 id="title" class="text-5xl font-bold text-indigo-400 mb-6"><i class="fa-solid fa-rocket"></i> Launch Dashboard</h1>
<div class="grid grid-cols-3 gap-6">
 <div class="rounded-xl bg-slate-800 p-6"><p class="text-slate-400">Revenue</p><p class="text-3xl font-bold">$42,000</p></div>
 <div class="rounded-xl bg-indigo-600 p-6"><p>Users</p><p class="text-3xl font-bold">1,204</p></div>
 <div class="rounded-xl bg-emerald-600 p-6"><p>Uptime</p><p class="text-3xl">99.9%</p></div></div>
<div class="mt-8 bg-white rounded-xl p-4" style="width:600px"><canvas id="c"></canvas></div>
<button id="go" class="mt-6 px-4 py-2 bg-pink-500 rounded">Click</button>
<div id="tile" style="cursor:pointer;width:50px;height:20px;background:#123456"></div>
<div style="width:100px;height:20px;white-space:nowrap">this text is far too long for its hundred pixel box</div>
<script>new Chart(document.getElementById('c'), {type: 'bar', data: {labels: ['a','b','c','d'],
 datasets: [{label: 'x', data: [3,7,4,9], backgroundColor: '#6366f1'}]}});</script>
</body></html>"""


@pytest.fixture(scope="module")
def lp() -> LoopPool:
    pool = LoopPool(RenderConfig(concurrency=3, browsers=1, recycle_every=1000), filled_store())
    yield pool
    pool.close()


# ------------------------------------------------------------------------------ asset store
def test_asset_urls_map_to_pinned_files_and_record_substitutions() -> None:
    store = filled_store()
    tw = store.lookup("https://cdn.tailwindcss.com/3.4.1?plugins=forms,typography")
    assert tw and tw.package == "tailwindcss-cdn" and tw.path == "3.4.1/tailwindcss-with-all-plugins.js"
    three = store.lookup("https://cdnjs.cloudflare.com/ajax/libs/three.js/r128/three.min.js")
    assert three and (three.version, three.path, three.substituted) == (
        "0.128.0",
        "build/three.min.js",
        False,
    )
    chart = filled_store(fallback="other-major").lookup(
        "https://cdn.jsdelivr.net/npm/chart.js@3.9.1/dist/chart.min.js"
    )
    assert chart and chart.version == "4.6.1" and chart.path == "dist/chart.umd.min.js" and chart.substituted
    assert chart.answered_by == "other-major"
    fa = store.lookup("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.4.0/webfonts/fa-solid-900.woff2")
    assert fa and fa.content_type == "font/woff2" and fa.body[:4] == b"wOF2"
    css = store.lookup(
        "https://fonts.googleapis.com/css2?family=Inter:ital,wght@0,400;1,700&family=Nope&display=swap"
    )
    assert css and css.path == "Inter,Nope" and css.content_type.startswith("text/css")
    assert [p["answered_by"] for p in css.parts] == ["exact", "blocked"]
    text = css.body.decode()
    assert "font-style: italic" in text and "font-weight: 700" in text and "fonts.gstatic.com" not in text
    assert (
        "url(https://assets.aesdata.invalid/npm/@fontsource/inter@5.3.0/files/inter-latin-400-normal.woff2)"
        in text
    )
    assert store.lookup("https://example.com/app.js") is None
    for url in (
        "https://cdn.jsdelivr.net/npm/left-pad@1/index.js",
        "https://fonts.googleapis.com/css2?family=Not+A+Font",
    ):
        answer = store.lookup(url)
        assert answer is not None and answer.body is None and answer.answered_by == "blocked", url


def test_fill_store_refuses_a_tarball_whose_hash_differs_from_the_lock(tmp_path: Path) -> None:
    real = next(p for p in load_lock() if p.name == "animate.css")
    bad = LockedPackage(real.name, real.version, "sha512-" + "A" * 86 + "==")
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"lock_version": 1, "packages": [bad.__dict__]}))
    with pytest.raises(AesdataError, match="Integrity mismatch"):
        fill_store(tmp_path / "store", lock_path=lock, log=lambda _: None)
    assert not any(p.name.startswith("animate.css") for p in (tmp_path / "store").iterdir())
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"lock_version": 1, "packages": [real.__dict__]}))
    assert fill_store(tmp_path / "store", lock_path=good, log=lambda _: None) == {"present": 0, "fetched": 1}
    assert fill_store(tmp_path / "store", lock_path=good, log=lambda _: None) == {"present": 1, "fetched": 0}


def test_find_browser_reports_path_and_version() -> None:
    info = find_browser()
    assert (
        Path(info.path).exists()
        and info.version[0].isdigit()
        and info.origin in ("env", "playwright", "system")
    )


def test_find_browser_prefers_the_headless_shell_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("chromium", "chromium-headless-shell"):
        exe = tmp_path / name
        exe.write_text(f"#!/bin/sh\necho 'Chromium 123.0.4567.89 ({name})'\n")
        exe.chmod(0o755)
    monkeypatch.delenv("AESDATA_CHROMIUM", raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-playwright-browsers"))
    monkeypatch.setenv("PATH", str(tmp_path))
    info = find_browser.__wrapped__()
    assert (info.path, info.version, info.flavour) == (
        str(tmp_path / "chromium-headless-shell"),
        "123.0.4567.89",
        "headless-shell",
    )
    (tmp_path / "chromium-headless-shell").unlink()
    assert find_browser.__wrapped__().flavour == "chrome"


@pytest.mark.parametrize("name", ["chromium-headless-shell", "chromium"])
def test_a_context_opens_no_browser_ui_renderer(name: str) -> None:
    """New-headless Chromium preloads the omnibox popup WebUI in a renderer of its own for every
    context (~600 ms CPU each) unless ``LAUNCH_ARGS`` switch it off; only the sample's page may appear."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    info = BrowserInfo(path, "test", "system")
    lp = LoopPool(RenderConfig(concurrency=1, browsers=1), None, browser=info)

    async def target_types() -> list[str]:
        async with lp.pool.open("<p>one sample</p>"):
            browser = lp.pool._slots[0].browser
            cdp = await browser.new_browser_cdp_session()
            infos = (await cdp.send("Target.getTargets"))["targetInfos"]
            return sorted(f"{t['type']} {t['url']}" for t in infos)

    try:
        assert lp.run(target_types()) == ["page https://sample.aesdata.invalid/index.html"]
    finally:
        lp.close()


# ------------------------------------------------------------------------------ capture
def test_tailwind_fonts_icons_and_chart_render_offline_from_the_store(lp: LoopPool) -> None:
    row = lp.run(render_html(lp.pool, DASHBOARD))
    assert row["render_status"] == "ok", row["render_error"]
    assert json.loads(row["blocked_requests_json"]) == []
    served = {a["package"] for a in row["render_assets"]}
    assert {"tailwindcss-cdn", "chart.js", "@fortawesome/fontawesome-free", "@fontsource/poppins"} <= served
    # offline, the lock's Font Awesome 6.7.2 and Chart.js 4.6.1 stand in for 6.4.0 and 4.4.0: recorded
    answered = {a["package"]: a["answered_by"] for a in row["render_assets"]}
    assert answered["chart.js"] == "same-major" and row["render_fidelity"] == "degraded"
    layout = json.loads(row["layout_json"])
    title = next(e for e in layout["elements"] if e["id"] == "title")
    assert (
        title["color"] == "rgb(129, 140, 248)" and title["font_size"] == 48.0
    )  # Tailwind ran: text-indigo-400 text-5xl
    assert (
        title["font_weight"] == 700
        and "Poppins" in title["font_family"]
        and title["text"] == "Launch Dashboard"
    )
    assert title["bg"] == "rgb(15, 23, 42)"  # effective background from <body class="bg-slate-900">
    by_id = {e["id"]: e for e in layout["elements"] if e["id"]}
    assert by_id["go"]["clickable"] and by_id["tile"]["clickable"] and not title["clickable"]
    assert any(e["overflow_x"] for e in layout["elements"] if e["tag"] == "div" and e["w"] == 100)
    assert set(title) == {
        "tag",
        "id",
        "cls",
        "x",
        "y",
        "w",
        "h",
        "text",
        "color",
        "bg",
        "font_size",
        "font_family",
        "font_weight",
        "z",
        "clickable",
        "overflow_x",
    }
    assert layout["document"]["width"] == 1280 and row["dom_nodes"] == layout["document"]["dom_nodes"]
    img = Image.open(io.BytesIO(row["screenshot_viewport"]["bytes"]))
    assert img.size == (1280, 960) and img.getpixel((5, 5))[:3] == (15, 23, 42)
    timings = json.loads(row["render_timings_json"])
    assert {"context_ms", "load_ms", "settle_ms", "layout_ms", "screenshot_ms", "close_ms"} <= set(timings)


def test_web_font_really_loaded_and_chart_drawn(lp: LoopPool) -> None:
    async def probe() -> tuple[bool, int]:
        async with lp.pool.open(DASHBOARD) as s:
            assert s.load_error is None
            await s.page.evaluate("document.fonts.ready")
            loaded = await s.page.evaluate(
                "document.fonts.check('700 48px Poppins') && "
                "[...document.fonts].some(f => f.family.includes('Poppins') && f.status === 'loaded')"
            )
            painted = await s.page.evaluate("""() => { const c = document.getElementById('c');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                for (let i = 0; i < d.length; i += 4) if (d[i] === 99 && d[i+1] === 102 && d[i+2] === 241) n++; return n; }""")
            return loaded, painted

    loaded, painted = lp.run(probe())
    assert loaded
    assert painted > 5000  # the bars (#6366f1) are fully drawn: no animation mid-way


def test_fresh_context_per_sample_leaks_no_state(lp: LoopPool) -> None:
    writer = """<html><body><p>a</p><script>
      localStorage.setItem('secret', 'A'); sessionStorage.setItem('secret', 'A');
      document.cookie = 'secret=A; max-age=3600'; window.secretGlobal = 'A';
      indexedDB.open('secretdb', 1);</script></body></html>"""
    reader = """() => Promise.all([indexedDB.databases ? indexedDB.databases() : []]).then(([dbs]) => ({
      local: localStorage.getItem('secret'), session: sessionStorage.getItem('secret'),
      cookie: document.cookie, global: typeof window.secretGlobal, dbs: dbs.map(d => d.name)}))"""

    async def scenario() -> tuple[dict, dict]:
        async with lp.pool.open(writer) as a:
            assert a.load_error is None
            seen_a = await a.page.evaluate(reader)
        async with lp.pool.open("<html><body><p>b</p></body></html>") as b:
            seen_b = await b.page.evaluate(reader)
        return seen_a, seen_b

    seen_a, seen_b = lp.run(scenario())
    assert seen_a == {
        "local": "A",
        "session": "A",
        "cookie": "secret=A",
        "global": "string",
        "dbs": ["secretdb"],
    }
    assert seen_b == {"local": None, "session": None, "cookie": "", "global": "undefined", "dbs": []}


def test_statuses_js_error_keeps_image_blank_and_tall_page_cut(lp: LoopPool) -> None:
    err = "<html><body><h1>Quarterly report</h1><p>Some text here.</p><script>undefinedFn()</script></body></html>"
    blank = "<html><body style='background:#fafafa'></body></html>"
    tall = "<html><body style='margin:0'><div style='height:20000px;background:linear-gradient(red,blue)'>top</div></body></html>"
    r_err, r_blank, r_tall = lp.run(render_many(lp.pool, [err, blank, tall]))
    assert r_err["render_status"] == "js_error" and "ReferenceError" in r_err["render_error"]
    assert r_err["screenshot"]["bytes"][:4] == b"\x89PNG"
    assert (
        r_blank["render_status"] == "blank"
        and r_blank["screenshot"] is None
        and r_blank["screenshot_viewport"] is None
    )
    assert "rgb(250, 250, 250)" in r_blank["render_error"]
    assert r_tall["render_status"] == "ok" and r_tall["screenshot_height"] == 8000
    assert Image.open(io.BytesIO(r_tall["screenshot_viewport"]["bytes"])).size == (1280, 960)
    assert json.loads(r_tall["render_meta_json"])["cut_at_max_height"] is True


def test_blank_fraction_sees_a_short_heading() -> None:
    img = Image.new("RGB", (1280, 960), "white")
    assert blank_fraction(img) == (0.0, "rgb(255, 255, 255)")
    from PIL import ImageDraw

    ImageDraw.Draw(img).text((20, 20), "Hello world, a heading", fill="black", font_size=32)
    assert blank_fraction(img)[0] > 0.001


def test_page_animation_frames_are_capped_and_errors_in_them_still_count(lp: LoopPool) -> None:
    """A page's requestAnimationFrame loop runs ~10 times a second of page time, not 60; cancel works; a
    callback that throws is an uncaught page error (js_error), as without the cap."""
    page_html = """<html><body><h1 id="h">counting</h1><script>
    let n = 0; const t0 = performance.now();
    const step = () => { n++; if (performance.now() - t0 < 1000) requestAnimationFrame(step);
                         else document.getElementById('h').textContent = 'frames ' + n; };
    requestAnimationFrame(step);
    requestAnimationFrame(() => { throw new Error('thrown in a frame'); });
    cancelAnimationFrame(requestAnimationFrame(() => document.body.append('cancelled callback ran')));
    </script></body></html>"""

    async def count() -> tuple[str, dict]:
        async with lp.pool.open(page_html) as s:
            await s.advance(1100, 10)  # page time: the page clock only moves when aesdata moves it
            return await s.page.inner_text("body"), {"pageerrors": s.pageerrors, "console": s.console}

    text, records = lp.run(count())
    frames = int(text.split()[1])
    assert 5 <= frames <= 12, text  # uncapped: ~60 in that second
    assert "cancelled" not in text
    assert records["pageerrors"] == 1 and "thrown in a frame" in records["console"][0]["text"]


def test_open_gives_the_agent_a_live_page_with_stubbed_dialogs(lp: LoopPool) -> None:
    page_html = """<html><body><button id="b" onclick="
        this.textContent = confirm('sure?') + '/' + prompt('name') + '/' + window.open('https://x.test/');
        alert('done'); print();">go</button></body></html>"""

    async def drive() -> str:
        async with lp.pool.open(page_html) as s:
            await s.page.click("#b", timeout=3000)
            return await s.page.inner_text("#b")

    assert lp.run(drive()) == "false/null/null"


def test_browser_is_recycled_every_n_pages() -> None:
    lp = LoopPool(RenderConfig(concurrency=2, browsers=1, recycle_every=2), store=None)
    try:
        rows = lp.run(
            render_many(lp.pool, [f"<html><body><h1>page number {i}</h1></body></html>" for i in range(5)])
        )
        assert [r["render_status"] for r in rows] == ["ok"] * 5
        assert lp.pool.launched >= 3
    finally:
        lp.close()


# ------------------------------------------------------------------------------ stage
def test_render_stage_maps_a_shard_to_render_columns(tmp_path: Path) -> None:
    stage = Render(
        RenderStageConfig(concurrency=2, browsers=1, assets_network="offline"),
        StageContext(tmp_path, tmp_path, tmp_path),
    )
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "kind": ["html", "html", "html"],
            "data_csv": [None, None, None],
            "code": [
                DASHBOARD,
                None,
                "<html><body><h1>Pricing plans for teams</h1><script>nope()</script></body></html>",
            ],
        }
    )
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(stage.asetup())
        out = loop.run_until_complete(stage.aprocess(table))
    finally:
        loop.run_until_complete(stage.ateardown())
        loop.close()
    assert out.column_names == list(Render.outputs)
    assert out.column("render_status").to_pylist() == ["ok", "skipped", "js_error"]
    assert stage.failures(out) == 2
    assert out.column("screenshot").to_pylist()[1] is None
    versions = stage.versions()
    assert versions["chromium"].startswith(find_browser().version) and versions["assets_lock"]
    assert "tailwindcss-cdn@3.4.10" in versions["assets"]
    fidelity = out.column("render_fidelity").to_pylist()  # exact or same-major: what the store holds
    assert fidelity[0] in ("faithful", "degraded") and fidelity[1:] == [None, "faithful"]
    pins = stage.summarize(tmp_path)["assets_run_lock"]["pins"]  # the run lock, for the manifest
    assert pins["tailwindcss-cdn@latest"]["version"] == "3.4.10"


def test_render_stage_refuses_an_incomplete_asset_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AESDATA_ASSETS", str(tmp_path / "empty"))
    stage = Render(RenderStageConfig(), StageContext(tmp_path, tmp_path, tmp_path))
    with pytest.raises(AesdataError, match="aesdata assets fetch"):
        asyncio.run(stage.asetup())
    shutil.rmtree(tmp_path / "empty", ignore_errors=True)
