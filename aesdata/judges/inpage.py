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
    from aesdata.render.asset_lock import load_lock, package_dir
    from aesdata.render.npm_store import store_dir

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


_PROBE = """async () => {
  // an element's box; for an image, at least the size its attributes ask for (a broken image with alt
  // text shrinks to that text, but the space it was meant to fill is what the page lost)
  const box = (el) => { const r = el.getBoundingClientRect();
    const aw = +(el.getAttribute && el.getAttribute('width')) || 0, ah = +(el.getAttribute && el.getAttribute('height')) || 0;
    return {x: r.x + scrollX, y: r.y + scrollY, w: Math.max(r.width, el.tagName === 'IMG' ? aw : 0),
            h: Math.max(r.height, el.tagName === 'IMG' ? ah : 0)}; };
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => i.complete && i.naturalWidth === 0 && (i.currentSrc || i.src))
                     .map(i => ({src: (i.currentSrc || i.src).slice(0, 500), ...box(i)}));
  const images_list = imgs.filter(i => i.currentSrc || i.src).slice(0, 300)
                          .map(i => ({src: (i.currentSrc || i.src).slice(0, 500), ...box(i)}));
  // CSS background images: each url() of a visible element of at least 40 x 40 px, loaded once more here
  const wanted = [];
  for (const el of document.querySelectorAll('body, body *')) {
    if (wanted.length >= 60) break;
    const bg = getComputedStyle(el).backgroundImage;
    if (!bg || bg === 'none' || !bg.includes('url(')) continue;
    const b = box(el);
    if (b.w < 40 || b.h < 40) continue;
    for (const m of bg.matchAll(/url\\(["']?([^"')]+)["']?\\)/g)) {
      if (!m[1].startsWith('data:')) wanted.push({url: m[1].slice(0, 500), ...b});
    }
  }
  const load = (url) => new Promise((resolve) => {
    const im = new Image(); const t = setTimeout(() => resolve(false), 1500);
    im.onload = () => { clearTimeout(t); resolve(im.naturalWidth > 0); };
    im.onerror = () => { clearTimeout(t); resolve(false); };
    im.src = url;
  });
  const loaded = await Promise.all(wanted.map(w => load(w.url)));
  const background_images = wanted.map((w, i) => ({...w, loaded: loaded[i]}));
  // headings, buttons and links in the first viewport that another element covers at their centre
  const covered = [];
  for (const el of document.querySelectorAll('h1, h2, h3, button, a, input')) {
    if (covered.length >= 10) break;
    const r = el.getBoundingClientRect();
    if (r.width < 4 || r.height < 4 || r.top < 0 || r.bottom > innerHeight || r.left < 0 || r.right > innerWidth) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || parseFloat(st.opacity) === 0) continue;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || hit === el || el.contains(hit) || hit.contains(el)) continue;
    const hs = getComputedStyle(hit);
    if (hs.pointerEvents === 'none' || parseFloat(hs.opacity) < 0.1) continue;
    let p = hit, fixed = false;
    for (; p && p !== document.body; p = p.parentElement) {
      const pos = getComputedStyle(p).position;
      if (pos === 'fixed' || pos === 'sticky') { fixed = true; break; }
    }
    if (!fixed) continue;  // only bars that stay on screen: a card over a card is the overlap check's job
    const pr = p.getBoundingClientRect();
    if (pr.width * pr.height > 0.5 * innerWidth * innerHeight) continue;  // a modal or overlay: deliberate
    const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '');
    covered.push({what: name(el) + ' "' + (el.innerText || el.value || '').trim().slice(0, 30) + '"',
                  by: 'a fixed ' + name(p || hit)});
  }
  return {images: imgs.length, broken_images: broken, images_list, background_images, covered,
          doc_w: document.documentElement.scrollWidth, doc_h: document.documentElement.scrollHeight,
          vw: innerWidth, vh: innerHeight};
}"""


async def probe(page: Any) -> dict[str, Any]:
    """Read facts the layout does not carry from the live ``page``: broken images, every image's source and
    box (to weigh placeholders by area), CSS background images and whether each loads (each ``url()`` is
    requested once more through the page's own sealed network), headings and controls of the first viewport
    covered by a fixed or sticky bar, and the document size."""
    return await page.evaluate(_PROBE)


def dumps(value: Any) -> str:
    """Compact, stable JSON for the ``*_json`` columns."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
