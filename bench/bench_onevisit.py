"""Benchmark: render + judge (offline judges, interactive agent included) in one visit per page vs two.

Three paths over the same pages (variants of ``demo/corpus/html``, see ``bench_render.pages``), taking
turns in ``--rounds`` interleaved rounds so that a slow spell of a shared machine weighs on all of them:

- ``two visits`` (aesdata before issue 18): the warm pool renders each page, then the judge step opens
  every rendered page again in the pool for HTMLHint, the probe, axe-core and the interactive agent.
- ``one visit``: the warm pool renders each page and captures those checks on the same live page
  (``aesdata.judges.capture.render_captured``); the judge step computes verdicts with no browser.
- ``papers``: the source papers' pipeline: a new browser per page for the screenshot (DOM, then network
  idle capped at 3 s, as OpenDesign's script), then a separate browser session per page for the agent
  (same live checks), pages one after another; verdicts as above.

Every path uses the same network policy (the asset store), page treatment and capture code, so the
difference is the visits and browsers. Prints pages/s, machine CPU-s per page (stolen time excluded), the
CPU-s per page of this process and its browsers (what a shared machine's other work does not blur) and the
ratios; then the time to rejudge the one-visit rows with other reward weights (design verdicts from the
request cache the one-visit judge step filled, as a build's judge step does), against the two-visit and
the one-visit judge steps.

    python bench/bench_onevisit.py --n 40 --papers-n 12 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fidelity import load_pages  # noqa: E402
from bench_render import cpu_times_s, pages, rounds_of  # noqa: E402

from aesdata.browser import LAUNCH_ARGS, find_browser  # noqa: E402
from aesdata.cache import RequestCache  # noqa: E402
from aesdata.judges.capture import CaptureConfig, capture_live, render_captured  # noqa: E402
from aesdata.judges.reward import RewardConfig  # noqa: E402
from aesdata.judges.runner import JudgeConfig, Judges  # noqa: E402
from aesdata.render.asset_lock import fill_store  # noqa: E402
from aesdata.render.assets import AssetStore  # noqa: E402
from aesdata.render.browser_pool import (  # noqa: E402
    BrowserPool,
    PageSession,
    RenderConfig,
    page_treatment,
)
from aesdata.render.html import capture, render_html  # noqa: E402
from aesdata.render.network import SAMPLE_URL, NetworkGuard  # noqa: E402

#: one page: its HTML and, for a multi-file real page, its own folder (served at the page's origin)
Page = tuple[str, Path | None]


def _rows(items: list[Page], renders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": "html",
            "code": h,
            "instruction": "a web page",
            "plot_figures": None,
            "meta_json": json.dumps({"files_root": str(root)}) if root else None,
            **r,
        }
        for (h, root), r in zip(items, renders, strict=True)
    ]


def real_pages(n: int) -> list[Page]:
    """The first ``n`` pages of the real-page corpus (``corpus/realpages``, fetched when missing), each
    with its own folder."""
    return [(r["html"], r["root"]) for r in load_pages(ROOT / "corpus/realpages/pages", n)]


async def two_visits(pool: BrowserPool, items: list[Page]) -> tuple[list[dict[str, Any]], float]:
    """Render in the pool, then judge by reopening each page; returns (verdicts, judge-step seconds)."""
    renders = await asyncio.gather(*(render_html(pool, h, root) for h, root in items))
    t0 = time.perf_counter()
    async with Judges(JudgeConfig(), pool=pool) as judges:
        out = await judges.judge_rendered(_rows(items, list(renders)))
    return out, time.perf_counter() - t0


async def one_visit(
    pool: BrowserPool, items: list[Page], cache: RequestCache | None = None
) -> tuple[list[dict[str, Any]], float]:
    """Render and capture in one visit, then judge from the captures (no browser; verdicts stored in
    ``cache``); returns (rows, judge-step seconds)."""
    config = CaptureConfig()
    renders = await asyncio.gather(*(render_captured(pool, h, config, root) for h, root in items))
    rows = _rows(items, list(renders))
    t0 = time.perf_counter()
    async with Judges(JudgeConfig(), cache=cache) as judges:
        verdicts = await judges.judge_rendered(rows)
    return [{**r, **v} for r, v in zip(rows, verdicts, strict=True)], time.perf_counter() - t0


async def papers(pw: Any, items: list[Page], store: AssetStore, config: RenderConfig) -> int:
    """A new browser per page for the screenshot, then a separate browser session for the agent; returns
    the pages judged."""
    info = find_browser()
    capture_config = CaptureConfig()

    async def session_for(html: str, root: Path | None) -> tuple[Any, PageSession]:
        browser = await pw.chromium.launch(executable_path=info.path, args=list(LAUNCH_ARGS))
        page = await browser.new_page(
            viewport={"width": config.viewport_width, "height": config.viewport_height}
        )
        session = PageSession(page=page, context=page.context, browser_version=info.version)
        await page_treatment(page, html)  # the pool's page treatment (clock, page_init.js)
        await page.route("**/*", NetworkGuard(html, store, session, root).handle)
        await page.goto(SAMPLE_URL, wait_until="domcontentloaded", timeout=30000)
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state("networkidle", timeout=3000)
        return browser, session

    rows = []
    for html, root in items:
        browser, session = await session_for(html, root)
        row = await capture(session, config)
        await browser.close()
        if row["render_status"] in ("ok", "js_error"):
            browser, session = await session_for(html, root)
            row.update(await capture_live(session, html, capture_config))
            await browser.close()
        rows.append(row)
    async with Judges(JudgeConfig()) as judges:
        await judges.judge_rendered(_rows(items, rows))
    return len(rows)


def tree_cpu_s() -> float:
    """CPU seconds of this process and its descendants (the Playwright driver, the browsers), children that
    exited included (Linux ``/proc``; 0 elsewhere)."""
    procs: dict[int, tuple[int, int]] = {}
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text() if pid.isdigit() else ""
        except OSError:
            continue
        if stat:
            fields = stat[stat.rfind(")") + 2 :].split()
            procs[int(pid)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += procs.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall seconds, machine CPU-seconds (busy, stolen excluded) and this process tree's CPU-seconds summed
    over calls."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.own = 0.0
        self.pages = 0

    @contextlib.contextmanager
    def measure(self, n: int):  # noqa: ANN201
        c0, own0, t0 = cpu_times_s(), tree_cpu_s(), time.perf_counter()
        yield
        self.wall += time.perf_counter() - t0
        c1 = cpu_times_s()
        if c0 and c1:
            self.cpu += c1[0] - c0[0]
        self.own += tree_cpu_s() - own0
        self.pages += n

    def row(self, name: str) -> str:
        return (
            f"{name:<12} {self.pages:>6} {self.pages / self.wall:>8.2f} {self.cpu / self.pages:>10.2f}"
            f" {self.own / self.pages:>10.2f}"
        )


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40, help="pages for the pool paths")
    ap.add_argument("--papers-n", type=int, default=12, help="pages for the papers' path (slow)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--pages",
        choices=("corpus", "realpages"),
        default="corpus",
        help="demo corpus variants, or the real-page corpus of issue 16 (corpus/realpages; at most its 82)",
    )
    args = ap.parse_args()
    fill_store(log=lambda _: None)
    store = AssetStore()
    config = RenderConfig()
    htmls: list[Page] = (
        real_pages(args.n) if args.pages == "realpages" else [(h, None) for h in pages(args.n)]
    )
    step = max(1, len(htmls) // args.papers_n)
    papers_pages = htmls[::step][: args.papers_n]
    meters = {"two visits": Meter(), "one visit": Meter(), "papers": Meter()}
    judge_two = judge_one = 0.0
    captured: list[dict[str, Any]] = []
    tmp = tempfile.TemporaryDirectory()
    cache = RequestCache(Path(tmp.name) / "requests.sqlite")
    async with BrowserPool(config, store=store) as pool, async_playwright() as pw:
        await one_visit(pool, htmls[:2])  # warm-up: browsers, fonts, asset files in the page cache
        for r, (share, pshare) in enumerate(
            zip(rounds_of(htmls, args.rounds), rounds_of(papers_pages, args.rounds), strict=True)
        ):
            with meters["two visits"].measure(len(share)):
                _, judge_s = await two_visits(pool, share)
            judge_two += judge_s
            with meters["one visit"].measure(len(share)):
                rows, judge_s = await one_visit(pool, share, cache)
            captured += rows
            judge_one += judge_s
            with meters["papers"].measure(len(pshare)):
                await papers(pw, pshare, store, config)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\n{'path':<12} {'pages':>6} {'pages/s':>8} {'CPU-s/page':>10} {'own CPU-s':>10}")
    for name, m in meters.items():
        print(m.row(name))
    one, two, pap = (meters[k] for k in ("one visit", "two visits", "papers"))
    speed = lambda m: m.pages / m.wall  # noqa: E731
    print(f"\none visit vs two visits: {speed(one) / speed(two):.2f}x pages/s (goal >= 1.6x)")
    print(f"one visit vs papers:     {speed(one) / speed(pap):.2f}x pages/s")
    print(f"CPU per page, two visits / one visit: {two.cpu / two.pages / (one.cpu / one.pages):.2f}x")
    print(f"own CPU per page, two visits / one visit: {two.own / two.pages / (one.own / one.pages):.2f}x")

    # rejudge: other reward weights over the captured rows; no page is opened, design verdicts are cached
    other = JudgeConfig(reward=RewardConfig(w_exec=0.2, w_static=0.7, w_interactive=0.1))
    t0 = time.perf_counter()
    async with Judges(other, cache=cache) as judges:
        await judges.judge_rendered(captured)
        assert judges.pool is None, "rejudging started a browser"
    rejudge = time.perf_counter() - t0
    cache.close()
    tmp.cleanup()
    print(
        f"\nrejudge {len(captured)} rows with other weights: {rejudge:.2f} s, no browser; the judge step took "
        f"{judge_two:.2f} s for the same pages with two visits ({100 * rejudge / judge_two:.1f}%, goal < 10%), "
        f"{judge_one:.2f} s from the captures ({100 * rejudge / judge_one:.1f}%)"
    )


if __name__ == "__main__":
    asyncio.run(main())
