"""The design judge sees what broke, on real pages in the real browser pool: each check has a page with the
problem and one without (empty chart container, missing CSS background image, placeholder image,
SRI-rejected library, a heading under a fixed bar), a damaged render ranks below a faithful one, and the
interactive agent does not take a hidden write or a restyle for what a control's label promises."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aesdata.judges import interactive
from aesdata.judges.runner import JudgeConfig, Judges
from aesdata.render.browser_pool import BrowserPool, RenderConfig

_HEAD = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><style>
body{margin:0;font-family:"DejaVu Sans",sans-serif;color:#1f2937;background:#f8fafc;line-height:1.5}
header{background:#0f766e;color:#fff;padding:20px 48px} main{padding:32px 48px}
.cards{display:grid;grid-template-columns:1fr 1fr;gap:24px} .card{background:#fff;border-radius:12px;
padding:20px;box-shadow:0 2px 8px #0001} h1{margin:0} h2{margin:0 0 12px;font-size:20px}
.hero{height:420px;border-radius:16px;background-size:cover;display:flex;align-items:end;padding:32px;
color:#fff;font-size:32px;font-weight:700;background-color:#334155}
</style></head><body><header><h1>Northwind analytics</h1></header><main>"""
_TAIL = "</main></body></html>"

_DRAW = """<script>
for (const c of document.querySelectorAll('canvas')) { const g = c.getContext('2d');
  const w = c.width, h = c.height; g.strokeStyle = '#0f766e'; g.lineWidth = 3; g.beginPath();
  for (let i = 0; i < 12; i++) g.lineTo(i * w / 11, h - 20 - (h - 40) * Math.abs(Math.sin(i * 0.7)));
  g.stroke(); g.fillStyle = '#f59e0b'; for (let i = 0; i < 12; i++) g.fillRect(i * w / 12 + 4, h - 30, 18, 30); }
</script>"""


def _dashboard(drawn: bool) -> str:
    cards = "".join(
        f'<div class="card"><h2>{name}</h2><div class="chart-container" id="{name.lower()}-chart">'
        f'<canvas width="520" height="260"></canvas></div></div>'
        for name in ("Revenue", "Orders", "Visitors", "Refunds")
    )
    return _HEAD + f'<div class="cards">{cards}</div>' + (_DRAW if drawn else "") + _TAIL


#: a small striped SVG as a data: URL (an image that always loads: nothing to fetch)
_STRIPES = (
    "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='40' height='40'>"
    "<rect width='40' height='40' fill='%23f97316'/><rect width='20' height='40' fill='%230ea5e9'/></svg>"
)


def _hero(url: str) -> str:
    return (
        _HEAD + f'<div class="hero" style="background-image:url(&quot;{url}&quot;)">Spring menu</div>' + _TAIL
    )


def _photo(src: str) -> str:
    return (
        _HEAD
        + f'<h2>Our kitchen</h2><img src="{src}" width="900" height="420" alt="kitchen">'
        + "<p>Fresh pasta every morning.</p>"
        + _TAIL
    )


def _chart_page() -> str:
    return (
        _HEAD + '<script src="https://cdn.jsdelivr.net/npm/chart.js@2.8.0/dist/Chart.min.js" '
        'integrity="sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" crossorigin="anonymous"></script>'
        '<div class="card"><h2>Revenue</h2><canvas width="900" height="300"></canvas></div>' + _DRAW + _TAIL
    )


def _judge(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Render and judge each item's ``code``; an item's ``render_*`` keys (how the renderer answered its
    assets in another situation: an SRI policy that rejects, a photo answered with a placeholder) replace
    the render's own, and the row is judged again from the same captures (no second visit)."""

    async def run():
        async with Judges(JudgeConfig(interactive=None, axe=False)) as judges:
            rows = await judges.render_and_judge(
                [{"kind": "html", "instruction": "t", "code": i["code"]} for i in items]
            )
            out = []
            for row, item in zip(rows, items, strict=True):
                extra = {k: v for k, v in item.items() if k.startswith("render_")}
                if extra:
                    (verdict,) = await judges.judge_rendered([{**row, **extra}])
                    row = {**row, **extra, **verdict}
                out.append(row)
            return out

    return asyncio.run(run())


def _findings(row: dict[str, Any]) -> str:
    return " | ".join(json.loads(row["static_findings_json"]))


def test_each_damage_check_tells_the_broken_page_from_the_whole_one():
    photo_url = "https://images.unsplash.com/photo-1556910103-1c02745aae4d?w=900"
    chart = {
        "url": "https://cdn.jsdelivr.net/npm/chart.js@2.8.0/dist/Chart.min.js",
        "kind": "script",
        "package": "chart.js",
        "version": "2.8.0",
        "requested": "2.8.0",
        "file": "dist/Chart.min.js",
    }
    rows = _judge(
        [
            {"code": _dashboard(drawn=False)},
            {"code": _dashboard(drawn=True)},
            {"code": _hero("img/spring-hero.jpg")},  # its own file, missing (a remote one gets a placeholder)
            {"code": _hero(_STRIPES)},
            {
                "code": _photo(photo_url),
                "render_assets": [{"url": photo_url, "kind": "image", "answered_by": "placeholder"}],
            },
            {"code": _photo(_STRIPES)},
            {
                "code": _chart_page(),
                "render_fidelity": "broken",
                "render_assets": [{**chart, "answered_by": "sri-rejected", "sri": "rejected"}],
            },
            {
                "code": _chart_page(),
                "render_fidelity": "faithful",
                "render_assets": [{**chart, "answered_by": "exact", "sri": "ok"}],
            },
        ]
    )
    names = ("empty chart", "missing background", "placeholder image", "SRI-rejected library")
    words = (
        "empty chart area",
        "CSS background image",
        "neutral placeholder",
        "refused by its integrity check",
    )
    for k, (name, word) in enumerate(zip(names, words, strict=True)):
        bad, good = rows[2 * k], rows[2 * k + 1]
        assert bad["render_status"] == good["render_status"] == "ok", (name, bad["render_error"])
        assert word in _findings(bad), (name, _findings(bad))
        assert word not in _findings(good), (name, _findings(good))
        assert bad["static_score"] < good["static_score"] - 5, (
            name,
            bad["static_score"],
            good["static_score"],
        )
    # the four empty charts of a dashboard are most of its page: the loss is in proportion, not a token
    assert rows[0]["static_score"] < 0.6 * rows[1]["static_score"]
    assert rows[6]["static_score"] <= 45  # a broken render stays below a faithful one of any quality


def test_fidelity_orders_damaged_renders_below_faithful_ones():
    page = _dashboard(drawn=True)
    font = {"url": "https://fonts.googleapis.com/css2?family=Muli", "kind": "font", "answered_by": "blocked"}
    rows = _judge(
        [
            {"code": page, "render_fidelity": "faithful", "render_assets": []},
            {"code": page, "render_fidelity": "degraded", "render_assets": [font]},
            {"code": page, "render_fidelity": "broken", "render_assets": []},
        ]
    )
    faithful, degraded, broken = (r["static_score"] for r in rows)
    assert broken < degraded < faithful and degraded <= 70
    assert "render fidelity broken" in _findings(rows[2])


_FIXED = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title><style>
body{margin:0;font-family:sans-serif} nav{position:fixed;top:0;left:0;right:0;height:%dpx;background:#111;color:#fff;
padding:0 24px;z-index:5} h1{margin:24px;font-size:40px} p{margin:24px}</style></head><body>
<nav><p>Brand</p></nav><h1 style="margin-top:%dpx">Welcome to the studio</h1><p>Body text.</p></body></html>"""


def test_a_fixed_header_over_the_headline_is_seen():
    covered, clear = _judge([{"code": _FIXED % (140, 24)}, {"code": _FIXED % (64, 96)}])
    assert "is covered by a fixed nav" in _findings(covered), _findings(covered)
    assert "covered" not in _findings(clear)
    assert covered["static_score"] < clear["static_score"]


_RESPONSES = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>steps</title>
<style>body{font-family:sans-serif;padding:24px} .on{outline:3px solid #f59e0b} #log{display:none}</style></head>
<body><h1>Setup wizard</h1><p id="step">Step 1 of 3: choose a plan</p>
<button id="next" onclick="const s=document.getElementById('step'); const n=+s.dataset.n||1;
  s.dataset.n=n+1; s.textContent='Step '+(n+1)+' of 3: details'">Next</button>
<button id="restyle" onclick="document.getElementById('step').classList.toggle('on')">Next step</button>
<button id="hidden" onclick="document.getElementById('log').textContent='advanced '+Date.now()">Continue</button>
<div id="log"></div></body></html>"""


def test_a_control_works_only_when_it_does_what_its_label_promises():
    async def run():
        async with BrowserPool(RenderConfig()) as pool:
            async with pool.open(_RESPONSES) as session:
                found = await session.page.evaluate(interactive.FIND_JS)
                out = {}
                with interactive._Watch(session.page) as watch:
                    for c in found:
                        entry = await interactive.observe_action(session.page, c, watch, settle_ms=150)
                        out[entry["target"]] = entry
                return out

    seen = asyncio.run(run())
    assert seen['button "Next"']["outcome"] == "changed", seen['button "Next"']
    # a restyle is not the next step, and text written into a hidden element is not a response
    assert seen['button "Next step"']["outcome"] == "no_change", {k: v for k, v in seen.items()}
    assert seen['button "Continue"']["outcome"] == "no_change", seen['button "Continue"']
