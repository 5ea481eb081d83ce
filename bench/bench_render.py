"""Benchmark: the warm browser pool vs a new browser per page (the source papers' scripts).

Two page sets (``--pages``): ``corpus``, variants of ``aesdata/data/demo/corpus/html/*.html`` (the issue's set), and
``mixed``, those interleaved with generated Tailwind/Chart.js dashboards. Pool and baselines render the
same pages (each baseline a sample with the pool's mix of pages, see ``baseline_sample``) with the same
network policy (asset store, everything else blocked), the same page treatment (``page_init.js``) and
the same capture (``aesdata.render.html.capture``: settle, layout, full-page and first-viewport PNGs,
blank check). The pool keeps per-sample isolation: a fresh browser context per page. Two baselines
launch a new browser per page: with aesdata's browser flags (the goal's comparison) and with the flags
the papers' scripts use. Pool and baselines take turns in ``--rounds`` rounds, so that a slow spell of a
shared machine weighs on both. Prints pages/s, the ratios (overall and per round), the pool's efficiency
(measured pages/s over concurrency / median single-page render time in a warm pool) and the CPU-bound
ceiling.

    python bench/bench_render.py --n 200 --baseline-n 40 --rounds 4 --pages both
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TypeVar

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Playwright, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aesdata.browser import LAUNCH_ARGS, find_browser  # noqa: E402
from aesdata.render.asset_lock import fill_store  # noqa: E402
from aesdata.render.assets import AssetStore  # noqa: E402
from aesdata.render.browser_pool import (  # noqa: E402
    BrowserPool,
    PageSession,
    RenderConfig,
    page_treatment,
)
from aesdata.render.html import capture, render_html, render_many  # noqa: E402
from aesdata.render.network import SAMPLE_URL, NetworkGuard  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_PALETTE = ["indigo", "emerald", "rose", "amber", "sky", "violet", "teal", "orange"]
_GENERATED = """<!doctype html><html><head><script src="https://cdn.tailwindcss.com"></script>
<link href="https://fonts.googleapis.com/css2?family=Inter:wght@400;700&display=swap" rel="stylesheet">
<script src="https://cdn.jsdelivr.net/npm/chart.js"></script></head>
<body class="bg-slate-50 font-['Inter'] p-8"><h1 class="text-4xl font-bold text-{c}-600">Dashboard {i}</h1>
<div class="grid grid-cols-3 gap-4 mt-6">{cards}</div><div class="mt-6 w-[600px] bg-white p-4 rounded-xl shadow">
<canvas id="c"></canvas></div><script>new Chart(document.getElementById('c'), {{type: 'line', data: {{labels: [1,2,3,4,5],
datasets: [{{label: 'series {i}', data: [{data}]}}]}}}});</script></body></html>"""


PAGE_SETS = {
    "corpus": "the demo corpus's pages in turn, each with a numbered marker (the issue's page set)",
    "mixed": "corpus pages interleaved with generated Tailwind Play CDN + Google font + Chart.js dashboards",
}


def pages(n: int, kind: str = "corpus") -> list[str]:
    """``n`` distinct pages. ``corpus``: the demo corpus's pages in turn, each with a numbered marker
    (the issue's page set); ``mixed``: those interleaved with generated dashboards that load the
    Tailwind Play CDN, a Google font and Chart.js (the heavier pages LLMs often write)."""
    corpus = [p.read_text() for p in sorted((ROOT / "aesdata/data/demo/corpus/html").glob("*.html"))]
    out: list[str] = []
    for i in range(n):
        if corpus and (kind == "corpus" or i % 2 == 0):
            src = corpus[(i if kind == "corpus" else i // 2) % len(corpus)]
            out.append(src.replace("</body>", f"<p style='margin:8px'>variant {i}</p></body>", 1))
        else:
            cards = "".join(
                f"<div class='rounded-xl bg-{_PALETTE[(i + k) % 8]}-100 p-4'>Metric {k}: {i * k}</div>"
                for k in range(6)
            )
            out.append(
                _GENERATED.format(
                    c=_PALETTE[i % 8], i=i, cards=cards, data=",".join(str((i * k) % 17) for k in range(5))
                )
            )
    return out


def baseline_sample(htmls: list[str], kind: str, k: int) -> list[str]:
    """``k`` of the pool's pages for the naive baselines, spread evenly over one cycle of the page set, so
    the baselines render the same mix of pages as the pool. The corpus set cycles through the demo
    corpus, so with ``k`` = the corpus size (the default) every corpus page is rendered once; the mixed
    set alternates corpus and generated pages and is sampled in such pairs."""
    unit = 2 if kind == "mixed" else 1
    n_corpus = max(1, len(list((ROOT / "aesdata/data/demo/corpus/html").glob("*.html"))))
    cycle = min(len(htmls), unit * n_corpus)
    groups = max(1, min(k, cycle) // unit)
    starts = [unit * (g * (cycle // unit) // groups) for g in range(groups)]
    return [htmls[s + u] for s in starts for u in range(unit) if s + u < len(htmls)]


def cpu_times_s() -> tuple[float, float] | None:
    """(busy, stolen): CPU seconds, summed over all cores, that this machine has spent busy since boot
    and that the hypervisor took from it (Linux ``/proc/stat``; stolen time is not counted as busy),
    else None."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4] - ticks[7]) / hz, ticks[7] / hz


async def naive(
    pw: Playwright, htmls: list[str], store: AssetStore, config: RenderConfig, args: list[str]
) -> tuple[float, int]:
    """New browser per page launched with ``args``, sequential, same routing, DOM then network idle
    (3 s cap) as in OpenDesign's released script, then the same capture as the pool (settle, layout,
    full-page and first-viewport PNGs, blank check); returns (seconds, pages ok)."""
    info = find_browser()
    ok = 0
    t0 = time.perf_counter()
    for html in htmls:
        browser = await pw.chromium.launch(executable_path=info.path, args=args)
        page = await browser.new_page(
            viewport={"width": config.viewport_width, "height": config.viewport_height}
        )
        session = PageSession(page=page, context=page.context, browser_version=info.version)
        guard = NetworkGuard(html, store, session)
        await page_treatment(page, html)  # the pool's page treatment (clock, page_init.js): a fair comparison
        await page.route("**/*", guard.handle)
        await page.goto(SAMPLE_URL, wait_until="domcontentloaded", timeout=30000)
        with contextlib.suppress(PlaywrightError):  # OpenDesign: DOM, then network idle capped at 3 s
            await page.wait_for_load_state("networkidle", timeout=3000)
        row = await capture(session, config)
        ok += row["render_status"] == "ok"
        await browser.close()
    return time.perf_counter() - t0, ok


def speed_probe() -> float:
    """Seconds a fixed pure-Python loop takes now: the machine's current speed (lower is faster)."""
    t0 = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i
    return time.perf_counter() - t0


T = TypeVar("T")


def rounds_of(items: list[T], k: int) -> list[list[T]]:
    """``items`` dealt into ``k`` rounds, consecutive pairs together (round ``i`` gets pairs ``i``,
    ``i + k``, ...), so every round has the same mix of pages, and in the mixed set as many corpus as
    generated pages."""
    pairs = [items[j : j + 2] for j in range(0, len(items), 2)]
    return [[item for pair in pairs[i::k] for item in pair] for i in range(k)]


async def bench_set(kind: str, args: argparse.Namespace, store: AssetStore) -> None:
    """Render one page set with the pool and with both naive baselines, in interleaved rounds; print
    its table.

    Each round renders a share of the pool's pages, then a share of each baseline's sample (each
    share spread over the whole set, see ``rounds_of``), so that
    the machine's speed, which swings widely on shared VMs (the same pure-Python loop takes 0.40 to
    0.83 s from one second to the next on these), weighs on all three alike."""
    config = RenderConfig(concurrency=args.concurrency)
    htmls = pages(args.n, kind)
    sample = baseline_sample(htmls, kind, args.baseline_n)
    baselines = {  # same browser flags as the pool (the headline), and the flags the papers' scripts use
        "naive, aesdata's browser flags": list(LAUNCH_ARGS),
        "naive, papers' flags": ["--no-sandbox", "--disable-gpu"],
    }
    rounds = max(1, min(args.rounds, len(sample) // 2))
    pool_s, pool_cpu, pool_stolen, rows = 0.0, 0.0, 0.0, []
    base_s = dict.fromkeys(baselines, 0.0)
    base_ok = dict.fromkeys(baselines, 0)
    per_round: list[tuple[float, float]] = []  # (pool / naive with aesdata's flags, speed probe s)
    async with async_playwright() as pw, BrowserPool(config, store=store) as pool:
        await render_many(pool, htmls[: pool.concurrency])  # warm-up (JIT, font caches)
        singles = [(await render_html(pool, h))["render_ms"] for h in htmls[:10]]
        median_s = statistics.median(singles) / 1000
        for part, part_sample in zip(rounds_of(htmls, rounds), rounds_of(sample, rounds), strict=True):
            probe = speed_probe()
            t0, cpu0 = time.perf_counter(), cpu_times_s()
            rows += await render_many(pool, part)
            seconds, cpu1 = time.perf_counter() - t0, cpu_times_s()
            pool_s += seconds
            if cpu0 is not None and cpu1 is not None:
                pool_cpu += cpu1[0] - cpu0[0]
                pool_stolen += cpu1[1] - cpu0[1]
            for name, flags in baselines.items():
                b_s, b_ok = await naive(pw, part_sample, store, config, flags)
                base_s[name] += b_s
                base_ok[name] += b_ok
                if name == next(iter(baselines)):
                    per_round.append(((len(part) / seconds) / (len(part_sample) / b_s), probe))
        workers = pool.concurrency
    ok = sum(r["render_status"] == "ok" for r in rows)
    pool_rate = len(htmls) / pool_s
    ideal = workers / median_s
    print(f"\n== page set '{kind}': {PAGE_SETS[kind]}")
    print(
        f"{'renderer (naive: a new browser per page)':<44}{'pages':>7}{'ok':>5}{'seconds':>9}{'pages/s':>9}{'pool is':>9}"
    )
    print(f"{'pool (fresh context per page)':<44}{len(htmls):>7}{ok:>5}{pool_s:>9.1f}{pool_rate:>9.2f}")
    for name in baselines:
        rate = len(sample) / base_s[name]
        print(
            f"{name:<44}{len(sample):>7}{base_ok[name]:>5}{base_s[name]:>9.1f}{rate:>9.2f}{pool_rate / rate:>8.1f}x"
        )
    print(
        f"{rounds} interleaved rounds; pool vs naive (aesdata's flags) per round, with the machine's speed "
        "then (a fixed Python loop, s; lower is faster): "
        + ", ".join(f"{r:.1f}x ({p:.2f} s)" for r, p in per_round)
    )
    print(f"pool: {workers} concurrent pages, {len(rows)} contexts (one per page)")
    print(
        f"median single-page render in a warm pool: {median_s * 1000:.0f} ms -> ideal {ideal:.2f} pages/s; "
        f"efficiency {pool_rate / ideal:.0%}"
    )
    if pool_cpu > 0:
        per_page, cpus = pool_cpu / len(htmls), os.cpu_count() or 1
        stolen = pool_stolen / (pool_s * cpus)  # share of the cores' time the hypervisor took
        ceiling = cpus * (1 - stolen) / per_page
        print(
            f"machine CPU busy {per_page * 1000:.0f} ms per pool page (all processes); the hypervisor took "
            f"{stolen:.0%} of the CPU time meanwhile -> CPU-bound ceiling {ceiling:.2f} pages/s; the pool ran "
            f"at {pool_rate / ceiling:.0%} of it"
        )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="pages rendered by the pool, per page set")
    ap.add_argument(
        "--baseline-n",
        type=int,
        default=40,
        help="pages rendered by each naive baseline (spread evenly over one cycle of the page set, "
        "see baseline_sample; 40 = each demo corpus page once)",
    )
    ap.add_argument(
        "--rounds", type=int, default=4, help="pool and baselines take turns this many times (see bench_set)"
    )
    ap.add_argument("--concurrency", type=int, default=0, help="pool concurrency (0 = sized to the machine)")
    ap.add_argument(
        "--pages", choices=["corpus", "mixed", "both"], default="both", help="page set(s), see pages()"
    )
    args = ap.parse_args()
    fill_store(log=lambda _: None)
    store = AssetStore()
    print(f"machine: {os.cpu_count()} cpus, chromium {find_browser().label}")
    print("goal: pool >= 5x naive with the same browser flags, on the corpus set")
    for kind in ["corpus", "mixed"] if args.pages == "both" else [args.pages]:
        await bench_set(kind, args, store)


if __name__ == "__main__":
    asyncio.run(main())
