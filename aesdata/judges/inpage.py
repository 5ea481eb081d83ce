"""Checks that run inside a live browser page: HTMLHint (lint) and axe-core (contrast), plus a DOM probe.

Both linters are the projects' own browser builds (``htmlhint/dist/htmlhint.min.js``,
``axe-core/axe.min.js``), pinned in ``aesdata/render/assets.lock.json`` and read from the local asset
store that set-up fills (``aesdata assets fetch``), so judging is offline and reproducible.

Inputs: a Playwright async ``Page``. Outputs: plain lists / dicts (JSON-ready).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError

#: npm package -> (pinned version, file inside the package)
JS_ASSETS: dict[str, tuple[str, str]] = {
    "htmlhint": ("1.9.2", "dist/htmlhint.min.js"),
    "axe-core": ("4.14.1", "axe.min.js"),
}


@cache
def find_asset(package: str) -> Path:
    """Return the path of ``package``'s browser build (see ``JS_ASSETS``) in the asset store.

    Raises ``AesdataError`` when the store lacks it (``aesdata assets fetch`` fills the store).
    """
    from aesdata.render.assets import load_lock, package_dir, store_dir

    version, inner = JS_ASSETS[package]
    root = store_dir()
    for pkg in load_lock():
        if pkg.name == package and pkg.version == version:
            path = package_dir(pkg, root) / inner
            if path.is_file():
                return path
            break
    raise AesdataError(
        f"The judge asset {package}@{version} ({inner}) is not in the asset store {root}.",
        "Run `aesdata assets fetch` (or `just setup`) with access to the npm registry.",
    )


@cache
def asset_source(package: str) -> str:
    """Return the JavaScript text of ``package``'s browser build."""
    return find_asset(package).read_text(encoding="utf-8")


def asset_versions() -> dict[str, str]:
    """Pinned versions of the in-page judge assets, for the run manifest."""
    return {pkg: ver for pkg, (ver, _) in JS_ASSETS.items()}


async def lint(page: Any, code: str, rules: dict[str, Any]) -> list[dict[str, Any]]:
    """Run HTMLHint over the source ``code`` inside ``page`` (the sample's own page, or any blank page).

    The browser build is evaluated as a CommonJS module inside one function call, so it defines no global
    and a sample's own scripts cannot see or shadow it. Returns HTMLHint's messages as
    ``[{rule, type, message, line, col}]``.
    """
    return await page.evaluate(_lint_function(), [code, rules])


@cache
def _lint_function() -> str:
    return (
        "([code, rules]) => { const module = {exports: {}}; const exports = module.exports; const define = undefined;\n"
        + asset_source("htmlhint")
        + """
        ;const H = module.exports.HTMLHint || module.exports.default || module.exports;
        return H.verify(code, rules).map(m => ({rule: m.rule.id, type: m.type, message: m.message,
                                               line: m.line, col: m.col}));
        }"""
    )


async def axe_contrast(page: Any) -> list[dict[str, Any]]:
    """Run axe-core's ``color-contrast`` rule on the live sample ``page``.

    Returns one entry per failing text node: ``{selector, ratio, expected, fg, bg, font_size, text}``.
    """
    # axe schedules its work with setTimeout: it gets the real timers, so it finishes while the page
    # clock of a pool page stays where it is (see aesdata.render.browser_pool)
    await page.evaluate(
        "(() => { const n = window.__aesdataNative || window;"
        " const setTimeout = n.setTimeout, clearTimeout = n.clearTimeout;\n"
        + asset_source("axe-core")
        + "\n})()"
    )
    raw = await page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']},
                                                      resultTypes: ['violations'], elementRef: false});
            const out = [];
            for (const v of r.violations) for (const n of v.nodes) {
                const d = (n.any[0] || n.all[0] || n.none[0] || {}).data || {};
                out.push({selector: String(n.target[0]), ratio: d.contrastRatio, expected: d.expectedContrastRatio,
                          fg: d.fgColor, bg: d.bgColor, font_size: d.fontSize, text: (n.html || '').slice(0, 120)});
            }
            return out;
        }"""
    )
    for item in raw:
        exp = item.get("expected")
        if isinstance(exp, str):
            item["expected"] = float(exp.rstrip(":1") or 4.5)
    return raw


_PROBE = """() => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => i.complete && i.naturalWidth === 0 && (i.currentSrc || i.src))
                     .map(i => ({src: (i.currentSrc || i.src).slice(0, 120), x: i.getBoundingClientRect().x,
                                 y: i.getBoundingClientRect().y + scrollY, w: i.width, h: i.height}));
  return {images: imgs.length, broken_images: broken,
          doc_w: document.documentElement.scrollWidth, doc_h: document.documentElement.scrollHeight,
          vw: innerWidth, vh: innerHeight};
}"""


async def probe(page: Any) -> dict[str, Any]:
    """Read facts the layout does not carry from the live ``page``: broken images and document size."""
    return await page.evaluate(_PROBE)


def dumps(value: Any) -> str:
    """Compact, stable JSON for the ``*_json`` columns."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
