"""Real pages written by others (a licensed subset of the corpus, ``tests/fixtures/realpages``) render
as their authors meant: every library, stylesheet and font answered with the exact version asked for,
their ``integrity`` attributes pass Chromium's check, the render is ``faithful``, and two renders make
the same asset choices. Offline, from the store ``aesdata assets fetch`` fills (the repo lock pins
these pages' packages); the whole corpus runs in ``bench/bench_fidelity.py``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow as pa
import pytest

from aesdata.render.browser_pool import RenderConfig
from aesdata.render.fidelity import SAMPLE_ORIGIN, render_fidelity
from aesdata.render.html import render_html
from aesdata.schema import sub_schema
from tests.render_helpers import LoopPool, filled_store

FIXTURES = Path(__file__).parent / "fixtures" / "realpages"
PAGES = [json.loads(line) for line in (FIXTURES / "fixtures.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def renders() -> list[list[dict]]:
    lp = LoopPool(RenderConfig(concurrency=4, browsers=1), filled_store())
    try:
        out = []
        for _ in range(2):
            out.append(
                lp.run(
                    _render_all(
                        lp,
                        [((FIXTURES / p["id"] / p["page"]).read_text(), FIXTURES / p["id"]) for p in PAGES],
                    )
                )
            )
        return out
    finally:
        lp.close()


async def _render_all(lp: LoopPool, pages: list[tuple[str, Path]]) -> list[dict]:
    return list(await asyncio.gather(*(render_html(lp.pool, html, root) for html, root in pages)))


def test_real_pages_render_faithfully_with_exact_versions_and_sri(renders: list[list[dict]]) -> None:
    first = renders[0]
    integrity_checked = 0
    for page, row in zip(PAGES, first, strict=True):
        assert row["render_status"] == "ok", (page["id"], row["render_error"])
        needed = [
            a
            for a in row["render_assets"]
            if a["kind"] in ("script", "stylesheet", "font") and not a["url"].startswith(SAMPLE_ORIGIN)
        ]
        assert needed, page["id"]
        assert all(a["answered_by"] == "exact" for a in needed), (page["id"], needed)
        assert all(a["sri"] in ("ok", "none") for a in needed), (page["id"], needed)
        integrity_checked += sum(a["sri"] == "ok" for a in needed)
        assert row["render_fidelity"] == "faithful", page["id"]
    assert integrity_checked >= 8  # the Bootstrap 4 / jQuery / Popper snippets carry integrity hashes
    colour = next(p for p, r in zip(PAGES, first, strict=True) if "color-game" in p["id"])
    fonts = [a for a in first[PAGES.index(colour)]["render_assets"] if "googleapis" in a["url"]]
    assert fonts and fonts[0]["package"] == "@fontsource/shrikhand"


def test_two_renders_make_identical_asset_choices(renders: list[list[dict]]) -> None:
    def choices(row: dict) -> list[tuple]:
        return sorted(
            (a["url"], a["answered_by"], a["package"], a["version"], a["file"]) for a in row["render_assets"]
        )

    assert [choices(r) for r in renders[0]] == [choices(r) for r in renders[1]]


def test_fidelity_columns_are_typed_in_parquet(renders: list[list[dict]]) -> None:
    cols = ["render_assets", "render_fidelity"]
    table = pa.Table.from_pylist([{c: r[c] for c in cols} for r in renders[0]], schema=sub_schema(cols))
    items = table.column("render_assets").to_pylist()
    assert (
        items[0][0]["answered_by"] == "exact" and table.column("render_fidelity").to_pylist()[0] == "faithful"
    )
    assert render_fidelity([{"kind": "script", "answered_by": "blocked"}]) == "broken"
    assert render_fidelity([{"kind": "font", "answered_by": "blocked"}]) == "degraded"
    assert render_fidelity([{"kind": "image", "answered_by": "placeholder"}]) == "faithful"
