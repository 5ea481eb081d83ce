"""Judge cost per page against render cost, on the known-answer pages (tests/judge_helpers.py).

Renders each page once in a warm pool (the baseline), then times each judge on the same live page:
HTMLHint lint, in-page probe, axe-core contrast, the built-in design judge, the interactive agent
(one episode), and the design judge's screenshot-only mode. Prints ms per page and the ratio to render.
Run: ``.venv/bin/python bench/bench_judges.py [n_pages]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from aesdata.judges import design, execution, inpage, interactive  # noqa: E402
from aesdata.render.browser_pool import BrowserPool, RenderConfig  # noqa: E402
from aesdata.render.html import capture  # noqa: E402
from tests.judge_helpers import TEMPLATES, page, pairs  # noqa: E402


async def run(n: int) -> dict[str, list[float]]:
    htmls = ([page(t) for t in TEMPLATES] + [page(t, d) for t, d, _ in pairs()])[:n]
    times: dict[str, list[float]] = {
        k: []
        for k in (
            "render (open+capture)",
            "lint (HTMLHint)",
            "probe",
            "axe contrast",
            "design (layout+pixels)",
            "design (screenshot only)",
            "interactive (1 episode)",
        )
    }
    async with BrowserPool(RenderConfig(concurrency=1, browsers=1)) as pool:
        async with pool.open(page("counter")) as warm:  # warm-up: first evaluation parses the builds
            await inpage.axe_contrast(warm.page)
            await inpage.lint(warm.page, "<p>", execution.htmlhint_rules())
        for html in htmls:
            t0 = time.perf_counter()
            async with pool.open(html) as s:
                row = await capture(s, pool.config)
                times["render (open+capture)"].append((time.perf_counter() - t0) * 1000)
                if row["render_status"] not in ("ok", "js_error"):
                    continue

                async def timed(name: str, coro):
                    t = time.perf_counter()
                    out = await coro
                    times[name].append((time.perf_counter() - t) * 1000)
                    return out

                await timed("lint (HTMLHint)", inpage.lint(s.page, html, execution.htmlhint_rules()))
                probe = await timed("probe", inpage.probe(s.page))
                axe = await timed("axe contrast", inpage.axe_contrast(s.page))
                png = row["screenshot"]["bytes"]
                t = time.perf_counter()
                design.judge_page(row["layout_json"], png, axe_violations=axe, probe=probe)
                times["design (layout+pixels)"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                design.judge_screenshot(png)
                times["design (screenshot only)"].append((time.perf_counter() - t) * 1000)
                await timed(
                    "interactive (1 episode)", interactive.explore(s.page, settle_ms=200, blocked=s.blocked)
                )
    return times


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    times = asyncio.run(run(n))
    base = statistics.median(times["render (open+capture)"])
    table = Table(title=f"judge cost per page ({n} known-answer pages, 1280x960, one warm browser)")
    for col in ("step", "pages", "median ms", "p90 ms", "x render"):
        table.add_column(col, justify="right" if col != "step" else "left")
    for name, values in times.items():
        if not values:
            continue
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        med = statistics.median(values)
        table.add_row(name, str(len(values)), f"{med:.1f}", f"{p90:.1f}", f"{med / base:.2f}")
    static = sum(
        statistics.median(times[k])
        for k in ("lint (HTMLHint)", "probe", "axe contrast", "design (layout+pixels)")
    )
    table.add_row("all static judges", "", f"{static:.1f}", "", f"{static / base:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
