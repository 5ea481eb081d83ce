"""Repro of issue 17's last differing screenshot: render one page N times (3 at a time) in a warm pool
beside busy-loop processes and count the screenshot variants.

Default page: the real page ``javascript-mini-projects-drum-aditya7302`` (``corpus/realpages``, see
``bench_determinism``). Before ``html._fresh_raster`` 14 renders in 240 differed there (one row of
pixels, <= 6/255); ``--after-settle FILE`` evaluates a JS function after the settle (experiments: a
forced repaint, a style toggle), ``--extra-arg`` adds a Chromium flag, ``--save DIR`` writes the
first PNG of each variant.

    python bench/repro_drum.py [--n 90] [--hog 2] [--page DIR] [--save DIR] [--after-settle FILE]
        [--extra-arg=--flag ...]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aesdata.render.browser_pool as bp  # noqa: E402
import aesdata.render.html as rh  # noqa: E402
from aesdata.render.asset_lock import fill_store  # noqa: E402
from aesdata.render.assets import AssetStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DRUM = ROOT / "corpus/realpages/pages/javascript-mini-projects-drum-aditya7302"


def _spin(stop: float) -> None:
    while time.monotonic() < stop:
        pass


async def main(args: argparse.Namespace) -> None:
    page = Path(args.page)
    html = (page / "index.html").read_text()
    if args.after_settle:
        script = Path(args.after_settle).read_text()
        original = rh.settle

        async def settle(session: bp.PageSession, config: bp.RenderConfig) -> None:
            await original(session, config)
            await rh._evaluate(session, script, None, 5.0)

        rh.settle = settle  # type: ignore[assignment]
    if args.extra_arg:
        bp.LAUNCH_ARGS = (*bp.LAUNCH_ARGS, *args.extra_arg)  # type: ignore[misc]
    fill_store(log=lambda _: None)
    hogs = [
        multiprocessing.Process(target=_spin, args=(time.monotonic() + 3600,), daemon=True)
        for _ in range(args.hog)
    ]
    for h in hogs:
        h.start()
    counts: Counter[str] = Counter()
    first: dict[str, bytes] = {}
    t0 = time.perf_counter()
    try:
        async with bp.BrowserPool(bp.RenderConfig(concurrency=3), store=AssetStore()) as pool:

            async def one() -> None:
                row: dict[str, Any] = await rh.render_html(pool, html, page)
                png = (row.get("screenshot") or {}).get("bytes") or b""
                key = hashlib.sha256(png).hexdigest()[:12] if png else str(row["render_error"])
                counts[key] += 1
                first.setdefault(key, png)

            await asyncio.gather(*(one() for _ in range(args.n)))  # the pool runs 3 at a time
    finally:
        for h in hogs:
            h.terminate()
    print(f"{args.n} renders in {time.perf_counter() - t0:.0f} s; variants: {dict(counts.most_common())}")
    if args.save:
        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        for key, png in first.items():
            if png:
                (out / f"{key}.png").write_bytes(png)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=90, help="renders")
    ap.add_argument("--hog", type=int, default=2, help="busy-loop processes meanwhile")
    ap.add_argument("--page", default=str(DRUM), help="a page folder holding index.html")
    ap.add_argument("--save", default="", help="write the first PNG of each variant here")
    ap.add_argument("--after-settle", default="", help="a file of JS (a function) evaluated after settle")
    ap.add_argument("--extra-arg", action="append", default=[], help="an extra Chromium flag")
    asyncio.run(main(ap.parse_args()))
