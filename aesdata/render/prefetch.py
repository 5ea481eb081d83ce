"""``aesdata assets prefetch``: fill the asset store with every CDN file a corpus or run asks for.

Reads the HTML of a corpus (a ``.jsonl`` / ``.json`` / ``.parquet`` / ``.csv`` file with ``code`` or
``code_file``, a folder of ``.html`` files, or one ``.html`` file) or of a run directory (its
``samples`` view), resolves every CDN URL written in it with the registry (exact versions, ranges
pinned) and keeps the files in the store, so a later render with ``assets_network: offline`` (an
air-gapped machine) answers the same requests with the same versions. For a run, the pins are
written to the run's render step lock (``stages/<step>/assets.lock.json``), which that step then
reuses; ``lock`` names another file.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aesdata.errors import AesdataError
from aesdata.render.assets import AssetPolicy, AssetStore
from aesdata.render.cdn_urls import urls_in_html
from aesdata.render.npm_store import RunLock


def htmls_of(source: Path) -> tuple[list[str], Path | None]:
    """The HTML documents of ``source`` (see the module docstring) and, for a run, its render lock path."""
    if (source / "manifest.json").is_file():
        from aesdata.query import connect

        con = connect(source)
        try:
            cols = {r[0] for r in con.execute("DESCRIBE samples").fetchall()}
            if "code" not in cols:
                return [], None
            where = "WHERE kind = 'html'" if "kind" in cols else ""
            htmls = [r[0] for r in con.execute(f"SELECT code FROM samples {where}").fetchall() if r[0]]
        finally:
            con.close()
        steps = sorted((source / "stages").glob("*/step.json"))
        render = next((p.parent for p in steps if '"render"' in p.read_text()), None)
        return htmls, (render / "assets.lock.json") if render else None
    if source.is_dir():
        return [p.read_text(errors="replace") for p in sorted(source.rglob("*.htm*"))], None
    if source.suffix.lower() in (".html", ".htm"):
        return [source.read_text(errors="replace")], None
    if not source.is_file():
        raise AesdataError(
            f"{source} does not exist.", "Give a corpus file, a folder of HTML files or a run."
        )
    from aesdata.records import read_records

    htmls = []
    for row in read_records(source):
        code = row.get("code")
        if code is None and row.get("code_file"):
            path = (source.parent / str(row["code_file"])).resolve()
            path = path / "index.html" if path.is_dir() else path
            code = path.read_text(errors="replace") if path.is_file() else None
        if isinstance(code, str):
            htmls.append(code)
    return htmls, None


def prefetch(source: Path, lock: Path | None = None, threads: int = 8, timeout_s: float = 30.0) -> Counter:
    """Resolve and store every CDN file ``source``'s pages name; return counts of ``answered_by``
    over the distinct URLs (plus ``"urls"``, ``"pages"``)."""
    htmls, run_lock = htmls_of(source)
    urls = list(dict.fromkeys(u for h in htmls for u in urls_in_html(h)))
    store = AssetStore(policy=AssetPolicy(registry_timeout_s=timeout_s), run_lock=RunLock(lock or run_lock))
    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(store.lookup, urls))
    counts = Counter(p["answered_by"] for a in answers if a is not None for p in a.parts)
    counts["urls"], counts["pages"] = len(urls), len(htmls)
    return counts
