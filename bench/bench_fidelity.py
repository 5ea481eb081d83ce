"""Benchmark: how faithfully aesdata renders real pages written by others (issue 16).

The corpus is ``corpus/realpages/manifest.jsonl`` (public pages at pinned commits, materialised by
``corpus/realpages/fetch.py``; run here when ``--pages-dir`` has no ``corpus.jsonl``). Each page is
rendered:

1. **before**: as aesdata rendered before exact versions on demand: the repo lock's packages only
   (``offline``), the nearest stored version of any major standing in, integrity left to Chromium,
   remote images blocked;
2. **after**: the default policy (``resolve``: exact versions from the npm registry, pinned in a run
   lock; same-major fallback; SRI ``strip``; image placeholders);
3. **again**: a second ``after`` render with the same run lock (asset choices must be identical);
4. **reference**: plain Chromium (no seal flags, no init script, motion as the page has it) whose
   requests are answered by a handler serving the exact npm files for the original URLs (a Font
   Awesome kit gets the same free build), the page's own files (404 for missing ones), and the same
   neutral placeholder for remote photos (the bench machine cannot reach photo hosts; placeholders
   keep the comparison about code, styles and fonts). Chromium checks ``integrity`` itself; where a
   CDN's own build differs from npm's file (cdnjs minifies some libraries itself) the attribute is
   dropped, since the page's hash matches the CDN's bytes online.

Prints: the share of library / stylesheet / font requests answered with the exact version (before
and after; goal >= 95%), SRI rejections where the exact file exists (goal 0), render failures caused
by the seal (aesdata failed where the reference did not; goal 0), whether the two renders chose the
same assets, and the reference check: perceptual distance between aesdata's and the reference's
first-viewport screenshots (pHash Hamming distance and mean absolute pixel difference), the share
within a small distance, and the five worst pages (side-by-side PNGs in ``--out``).

    python bench/bench_fidelity.py [--limit N] [--out /tmp/bench_fidelity] [--exact-only]

``--exact-only``: only the ``after`` render and its exact share, with every request not answered
exact listed (a few minutes instead of four renders).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image
from playwright.async_api import Route, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aesdata.browser import find_browser  # noqa: E402
from aesdata.render.asset_lock import fill_store, load_lock, package_dir  # noqa: E402
from aesdata.render.assets import (  # noqa: E402
    AssetPolicy,
    AssetStore,
    looks_like_image,
    placeholder_image,
    store_dir,
)
from aesdata.render.browser_pool import BrowserPool, RenderConfig  # noqa: E402
from aesdata.render.fidelity import SAMPLE_ORIGIN  # noqa: E402
from aesdata.render.html import blank_fraction, render_html  # noqa: E402
from aesdata.render.network import SAMPLE_URL, own_file, seal_integrity  # noqa: E402
from aesdata.render.npm_store import RunLock  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NEEDED_KINDS = ("script", "stylesheet", "font")
FAILED = ("timeout", "crash", "error", "blank", "js_error")
PHASH_OK, DIFF_OK = 8, 0.04


def load_pages(pages_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    """The materialised corpus rows (fetching them first when needed), with ``html`` and ``root``."""
    corpus = pages_dir / "corpus.jsonl"
    if not corpus.is_file():
        subprocess.run(
            [sys.executable, str(ROOT / "corpus/realpages/fetch.py"), "--out", str(pages_dir)], check=True
        )
    rows = [json.loads(line) for line in corpus.read_text().splitlines() if line.strip()]
    for r in rows:
        r["html"] = (pages_dir / r["code_file"]).read_text(encoding="utf-8", errors="replace")
        r["root"] = pages_dir / r["files_root"]
    return rows[:limit] if limit else rows


def lock_only_root() -> Path:
    """A store holding exactly the repo lock's packages (what aesdata shipped before this change)."""
    fill_store(log=lambda _: None)
    root = Path(tempfile.mkdtemp(prefix="aesdata-before-"))
    for pkg in load_lock():
        package_dir(pkg, root).symlink_to(package_dir(pkg, store_dir()).resolve())
    return root


async def render_all(rows: list[dict[str, Any]], store: AssetStore, concurrency: int) -> list[dict[str, Any]]:
    """aesdata's render of every page with ``store``."""
    config = RenderConfig(concurrency=concurrency, browsers=1)
    async with BrowserPool(config, store=store) as pool:
        return list(await asyncio.gather(*(render_html(pool, r["html"], r["root"]) for r in rows)))


async def reference_all(
    rows: list[dict[str, Any]], store: AssetStore, concurrency: int
) -> list[dict[str, Any]]:
    """Plain-Chromium renders answered with exact npm files (see the module docstring)."""
    sem = asyncio.Semaphore(concurrency)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=find_browser().path, headless=True)

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            async with sem:
                context = await browser.new_context(viewport={"width": 1280, "height": 960}, locale="en-US")
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))

                async def handle(route: Route) -> None:
                    url = route.request.url
                    if url.split("#")[0] == SAMPLE_URL:
                        await route.fulfill(status=200, body=document.encode(), content_type="text/html")
                        return
                    if url.startswith(SAMPLE_ORIGIN):  # the page's own file, or a 404 as online
                        own = own_file(row["root"], url)
                        if own:
                            await route.fulfill(status=200, body=own[0], headers={"content-type": own[1]})
                        else:
                            await route.fulfill(status=404, body=b"")
                        return
                    answer = await asyncio.to_thread(store.lookup, url)
                    online = answer is not None and (
                        answer.answered_by == "exact" or "kit.fontawesome" in url
                    )
                    if answer is not None and answer.body is not None and online:
                        await route.fulfill(
                            status=200,
                            body=answer.body,
                            headers={"content-type": answer.content_type, "access-control-allow-origin": "*"},
                        )
                        return
                    if answer is None and looks_like_image(url, route.request.resource_type):
                        body, ctype = placeholder_image(url)
                        await route.fulfill(status=200, body=body, headers={"content-type": ctype})
                        return
                    await route.abort()

                # where a CDN's own build differs from npm's file (cdnjs minifies some libraries itself),
                # the page's hash matches the CDN's bytes online: drop it here, as aesdata's strip does
                document = (await asyncio.to_thread(seal_integrity, row["html"], store))[1]
                await context.route("**/*", handle)
                status = "ok"
                png = None
                try:
                    await page.goto(SAMPLE_URL, wait_until="load", timeout=20000)
                    await page.evaluate("document.fonts.ready.then(() => 1)")
                    await page.wait_for_timeout(1200)
                    png = await page.screenshot(timeout=10000)
                except Exception as e:  # noqa: BLE001 - a reference that fails is reported as such
                    status = f"error: {str(e).splitlines()[0][:120]}"
                await context.close()
                if png is not None:
                    with Image.open(io.BytesIO(png)) as img:
                        if blank_fraction(img.convert("RGB"))[0] < 0.001:
                            status = "blank"
                if status == "ok" and errors:
                    status = "js_error"
                return {"status": status, "png": png, "errors": errors[:3]}

        try:
            return list(await asyncio.gather(*(one(r) for r in rows)))
        finally:
            await browser.close()


def exact_share(renders: list[dict[str, Any]], npm_only: bool = False) -> tuple[float, int, Counter]:
    """Share of script/stylesheet/font requests (to other hosts than the page's own) answered exact;
    their count; answers by kind. ``npm_only``: only requests whose URL names an npm package."""
    items = [
        a
        for r in renders
        for a in (r.get("render_assets") or [])
        if a["kind"] in NEEDED_KINDS
        and not a["url"].startswith(SAMPLE_ORIGIN)
        and (a["package"] or not npm_only)
    ]
    answered = Counter(a["answered_by"] for a in items)
    return (answered["exact"] / len(items) if items else 1.0), len(items), answered


def choices(render: dict[str, Any]) -> list[tuple]:
    """The asset choices of one render, order-free."""
    return sorted(
        (a["url"], a["answered_by"], a["package"], a["version"], a["file"])
        for a in render["render_assets"] or []
    )


def distance(a_png: bytes, b_png: bytes) -> tuple[int, float]:
    """(pHash Hamming distance, mean absolute difference 0..1) of two first-viewport screenshots."""
    a = Image.open(io.BytesIO(a_png)).convert("RGB").crop((0, 0, 1280, 960))
    b = Image.open(io.BytesIO(b_png)).convert("RGB").crop((0, 0, 1280, 960))
    ph = imagehash.phash(a) - imagehash.phash(b)
    small_a = np.asarray(a.resize((320, 240)), dtype=np.float32)
    small_b = np.asarray(b.resize((320, 240)), dtype=np.float32)
    return int(ph), float(np.abs(small_a - small_b).mean() / 255)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages-dir", type=Path, default=ROOT / "corpus/realpages/pages")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench_fidelity")
    ap.add_argument("--exact-only", action="store_true", help="only the after render and its exact share")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = load_pages(args.pages_dir, args.limit)
    print(f"{len(rows)} real pages from {len({r['source'].split('@')[0] for r in rows})} repositories")

    if args.exact_only:
        lock_path = args.out / "run-lock.json"
        lock_path.unlink(missing_ok=True)
        after = asyncio.run(render_all(rows, AssetStore(run_lock=RunLock(lock_path)), args.concurrency))
        share, n, answered = exact_share(after)
        print(f"library/stylesheet/font requests answered exact: {share:.1%} of {n} (goal >= 95%)")
        print(f"  {dict(answered)}")
        for r, a in zip(rows, after, strict=True):
            for item in a["render_assets"] or []:
                if (
                    item["kind"] in NEEDED_KINDS
                    and item["answered_by"] != "exact"
                    and not item["url"].startswith(SAMPLE_ORIGIN)
                ):
                    print(
                        f"    {item['answered_by']:12s} {r['page_id'][:40]:40s} {item['url'][:150]}  {item['note'][:80]}"
                    )
        per_page = [
            {"source": r["source"], "status": a["render_status"], "assets": a["render_assets"]}
            for r, a in zip(rows, after, strict=True)
        ]
        (args.out / "results-exact.json").write_text(json.dumps(per_page, indent=1))
        return

    t0 = time.perf_counter()
    before_store = AssetStore(
        lock_only_root(),
        policy=AssetPolicy(network="offline", fallback="other-major", images="block", sri="reject"),
    )
    before = asyncio.run(render_all(rows, before_store, args.concurrency))
    lock_path = args.out / "run-lock.json"
    lock_path.unlink(missing_ok=True)
    after = asyncio.run(render_all(rows, AssetStore(run_lock=RunLock(lock_path)), args.concurrency))
    again = asyncio.run(render_all(rows, AssetStore(run_lock=RunLock(lock_path)), args.concurrency))
    reference = asyncio.run(
        reference_all(rows, AssetStore(policy=AssetPolicy(fallback="none")), args.concurrency)
    )
    seconds = time.perf_counter() - t0

    share_b, n_b, ans_b = exact_share(before)
    share_a, n_a, ans_a = exact_share(after)
    print(
        f"\nlibrary/stylesheet/font requests answered exact: before {share_b:.1%} of {n_b}  ->  after {share_a:.1%} of {n_a} (goal >= 95%)"
    )
    share_n, n_n, _ = exact_share(after, npm_only=True)
    print(f"  after, requests whose URL names an npm package: {share_n:.1%} of {n_n}")
    print(f"  before: {dict(ans_b)}")
    print(f"  after:  {dict(ans_a)}")
    not_exact = Counter(
        (a["answered_by"], a["url"].split("/")[2], a["note"][:60])
        for r in after
        for a in r["render_assets"] or []
        if a["kind"] in NEEDED_KINDS
        and a["answered_by"] != "exact"
        and not a["url"].startswith(SAMPLE_ORIGIN)
    )
    for (how, host, note), n in not_exact.most_common(12):
        print(f"    {n:3d} {how:12s} {host:28s} {note}")
    sri_rej = [
        a
        for r in after
        for a in r["render_assets"] or []
        if a["answered_by"] == "sri-rejected" and a["version"]
    ]
    sri_stats = Counter(a["sri"] for r in after for a in r["render_assets"] or [] if a["sri"] != "none")
    print(
        f"SRI rejections where the exact file exists: {len(sri_rej)} (goal 0); integrity checks: {dict(sri_stats)}"
    )
    seal_failures = [
        (r["source"], a["render_status"], a["render_error"])
        for r, a, ref in zip(rows, after, reference, strict=True)
        if a["render_status"] in FAILED and ref["status"] == "ok"
    ]
    print(f"render failures caused by the seal (aesdata failed, reference ok): {len(seal_failures)} (goal 0)")
    for s in seal_failures[:8]:
        print(f"    {s[0]}: {s[2]}")
    print(
        f"statuses: before {dict(Counter(r['render_status'] for r in before))}, after {dict(Counter(r['render_status'] for r in after))}, reference {dict(Counter(r['status'].split(':')[0] for r in reference))}"
    )
    print(
        f"fidelity: before {dict(Counter(r['render_fidelity'] for r in before))}, after {dict(Counter(r['render_fidelity'] for r in after))}"
    )
    same = sum(choices(a) == choices(b) for a, b in zip(after, again, strict=True))
    print(f"two renders made identical asset choices on {same}/{len(rows)} pages")

    dists = []
    for r, a, ref in zip(rows, after, reference, strict=True):
        if a.get("screenshot_viewport") and ref["png"]:
            ph, diff = distance(a["screenshot_viewport"]["bytes"], ref["png"])
            dists.append((ph, diff, r, a, ref))
    within = [d for d in dists if d[0] <= PHASH_OK and d[1] <= DIFF_OK]
    print(
        f"\nreference check on {len(dists)} pages with both screenshots: {len(within) / max(1, len(dists)):.1%} within "
        f"pHash <= {PHASH_OK} and mean |diff| <= {DIFF_OK}; median pHash {statistics.median(d[0] for d in dists):.0f}, "
        f"median |diff| {statistics.median(d[1] for d in dists):.4f}"
    )
    worst = sorted(dists, key=lambda d: (d[1], d[0]), reverse=True)[:5]
    for i, (ph, diff, r, a, ref) in enumerate(worst, 1):
        pair = Image.new("RGB", (2560 + 20, 960), "red")
        pair.paste(
            Image.open(io.BytesIO(a["screenshot_viewport"]["bytes"])).convert("RGB").crop((0, 0, 1280, 960)),
            (0, 0),
        )
        pair.paste(Image.open(io.BytesIO(ref["png"])).convert("RGB").crop((0, 0, 1280, 960)), (1300, 0))
        path = args.out / f"worst{i}-{r['page_id'][:50]}.png"
        pair.resize((1290, 480)).save(path)
        print(f"  worst {i}: pHash {ph:2d} |diff| {diff:.4f} {r['source']} -> {path}")
    (args.out / "results.json").write_text(
        json.dumps(
            [
                {
                    "source": r["source"],
                    "status": a["render_status"],
                    "fidelity": a["render_fidelity"],
                    "reference": ref["status"],
                    "assets": a["render_assets"],
                }
                for r, a, ref in zip(rows, after, reference, strict=True)
            ],
            indent=1,
        )
    )
    print(f"\n{seconds:.0f} s for 4 renders of {len(rows)} pages; details in {args.out}/results.json")


if __name__ == "__main__":
    main()
