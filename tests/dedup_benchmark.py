"""A labelled dedup benchmark built in code, shared by ``tests/test_dedup.py`` and ``bench/bench_dedup.py``.

``build(n_groups, n_distinct, seed)`` makes original HTML pages that differ the way generated pages
differ (10 page archetypes, a random sequence of section types each with several markup variants,
per-page palette, fonts, radii, spacing, class-naming convention, topic and text, optional CDN
libraries), then realistic variants of each original: retitled, recoloured, sections reordered,
classes renamed, CDN versions changed (and reformatted), and retitled+recoloured. Each original and
its variants share a ``group``; ``n_distinct`` further originals have no variants.

``render(pages)`` screenshots pages with the system Chromium through Playwright (network blocked).
``pairwise(labels, groups)`` scores a clustering by same-cluster pairs.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

TOPICS = {
    "coffee": "espresso roast beans barista latte brew aroma crema origin blend cafe morning cup grind",
    "fitness": "workout strength cardio coach training muscle routine gym stretch endurance reps goals",
    "travel": "journey island mountains passport beaches itinerary flights hotel tour explore culture map",
    "finance": "budget savings invest portfolio returns credit account interest tax wealth market fund",
    "music": "album guitar concert playlist melody studio vinyl rhythm band tour lyrics acoustic",
    "education": "course lesson students campus learning teacher syllabus exam degree lecture library",
    "realestate": "apartment house listing mortgage rooms garden agent neighborhood rent buyers loft",
    "gaming": "players quest arena level loot guild tournament console controller boss pixels score",
    "pets": "puppy kitten grooming veterinary adoption leash treats shelter walks training paws",
    "cloud": "servers deploy cluster latency uptime api scaling storage monitoring pipeline container",
    "garden": "plants seeds soil compost flowers harvest greenhouse pruning herbs bloom watering",
    "fashion": "collection denim sneakers runway fabric tailoring season accessories boutique style",
}
FILLER = (
    "the and with for your our every new best simple fast modern trusted daily together build "
    "discover create explore share plan track join start learn love enjoy premium local global"
).split()
FONTS = [
    "'Inter', sans-serif",
    "Georgia, serif",
    "'Poppins', sans-serif",
    "system-ui, sans-serif",
    "'Playfair Display', serif",
    "'Roboto Mono', monospace",
    "Verdana, sans-serif",
]
CDN = [
    '<script src="https://cdn.jsdelivr.net/npm/chart.js@{v}/dist/chart.umd.min.js"></script>',
    '<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/{v}/css/all.min.css">',
    '<script src="https://unpkg.com/alpinejs@{v}/dist/cdn.min.js" defer></script>',
    '<script src="https://cdn.jsdelivr.net/npm/gsap@{v}/dist/gsap.min.js"></script>',
]
VERSIONS = ["3.9.1", "4.4.0", "6.4.2", "3.13.3", "3.12.5", "4.4.1", "6.5.1", "3.14.1"]
ARCHETYPES = {
    "landing": ["nav", "hero", "features", "stats", "testimonials", "pricing", "cta", "faq", "footer"],
    "dashboard": ["sidebar", "topbar", "stats", "table", "chart", "activity", "footer"],
    "blog": ["nav", "masthead", "articles", "newsletter", "tags", "footer"],
    "portfolio": ["nav", "hero", "gallery", "about", "skills", "contact", "footer"],
    "shop": ["nav", "banner", "products", "categories", "reviews", "newsletter", "footer"],
    "docs": ["sidebar", "article", "code", "callout", "table", "footer"],
    "restaurant": ["nav", "hero", "menu", "hours", "gallery", "contact", "footer"],
    "event": ["nav", "hero", "timeline", "speakers", "pricing", "faq", "footer"],
    "signup": ["nav", "form", "features", "testimonials", "footer"],
    "agency": ["nav", "hero", "services", "stats", "team", "cta", "footer"],
}


@dataclass
class Page:
    """One benchmark page: its HTML, group label and what it is (``original`` or a variant name)."""

    html: str
    group: int
    variant: str


class _Spec:
    """Everything that defines one original page; variants copy it and change one aspect."""

    def __init__(self, rng: random.Random) -> None:
        self.archetype = rng.choice(list(ARCHETYPES))
        self.topic = rng.choice(list(TOPICS))
        pool = ARCHETYPES[self.archetype]
        middle = [s for s in pool[1:-1] if rng.random() < 0.8] or pool[1:2]
        rng.shuffle(middle)
        self.sections = [pool[0], *middle, pool[-1]]
        self.markup = {s: rng.randrange(3) for s in pool}
        self.seed = rng.randrange(1 << 30)
        self.hue = rng.randrange(360)
        self.dark = rng.random() < 0.3
        self.font = rng.choice(FONTS)
        self.radius = rng.choice([0, 4, 8, 12, 16, 24])
        self.gap = rng.choice([12, 16, 20, 24, 32, 40])
        self.width = rng.choice([960, 1100, 1200, 1280])
        self.cols = rng.choice([2, 3, 4])
        self.naming = rng.choice(["kebab", "bem", "short", "camel"])
        self.prefix = rng.choice(["", "x-", "app-", "ui-", "site-"])
        self.cdn = rng.sample(range(len(CDN)), rng.randrange(0, 3))
        self.versions = [rng.choice(VERSIONS) for _ in CDN]
        self.title_words = rng.randrange(2, 5)
        self.rename: dict[str, str] = {}


def _words(rng: random.Random, topic: str, n: int) -> str:
    vocab = TOPICS[topic].split()
    return " ".join(rng.choice(vocab) if rng.random() < 0.55 else rng.choice(FILLER) for _ in range(n))


def _sentence(rng: random.Random, topic: str, lo: int = 8, hi: int = 22) -> str:
    s = _words(rng, topic, rng.randrange(lo, hi))
    return s[:1].upper() + s[1:] + "."


class _Builder:
    def __init__(self, spec: _Spec) -> None:
        self.s = spec
        self.classes: list[str] = []

    def cls(self, name: str) -> str:
        s = self.s
        parts = name.split("-")
        if s.naming == "bem":
            out = parts[0] + ("__" + "-".join(parts[1:]) if len(parts) > 1 else "")
        elif s.naming == "short":
            out = "".join(p[:2] for p in parts)
        elif s.naming == "camel":
            out = parts[0] + "".join(p.title() for p in parts[1:])
        else:
            out = name
        if out not in self.classes:
            self.classes.append(out)
        return s.rename.get(out, s.prefix + out)

    def section(self, kind: str, rng: random.Random) -> str:
        s, c, t = self.s, self.cls, self.s.topic
        v = s.markup[kind]
        items = rng.randrange(3, 7)
        if kind in ("nav", "topbar"):
            links = "".join(
                f'<a href="#{_words(rng, t, 1)}">{_words(rng, t, 1).title()}</a>' for _ in range(items)
            )
            brand = f'<div class="{c("brand")}">{_words(rng, t, 2).title()}</div>'
            if v == 0:
                return f'<nav class="{c("nav")}">{brand}<div class="{c("nav-links")}">{links}</div></nav>'
            return f'<header class="{c("top-bar")}">{brand}<nav>{links}</nav><button class="{c("btn")}">{_words(rng, t, 2)}</button></header>'
        if kind == "sidebar":
            links = "".join(f"<li><a href='#'>{_words(rng, t, 2).title()}</a></li>" for _ in range(items + 2))
            return (
                f'<aside class="{c("side-nav")}"><h2>{_words(rng, t, 2).title()}</h2><ul>{links}</ul></aside>'
            )
        if kind in ("hero", "banner", "masthead"):
            head = f"<h1>{self.heading}</h1><p>{_sentence(rng, t, 14, 30)}</p>"
            btns = f'<a class="{c("btn")}" href="#">{_words(rng, t, 2).title()}</a>'
            if v == 0:
                return (
                    f'<section class="{c("hero")}"><div class="{c("hero-text")}">{head}{btns}</div></section>'
                )
            if v == 1:
                return f'<section class="{c("hero")} {c("hero-split")}"><div>{head}{btns}</div><div class="{c("hero-art")}"></div></section>'
            return f'<header class="{c("hero-center")}">{head}<form><input placeholder="{_words(rng, t, 2)}"><button>{_words(rng, t, 1)}</button></form></header>'
        if kind in (
            "features",
            "services",
            "products",
            "categories",
            "skills",
            "speakers",
            "team",
            "articles",
            "menu",
            "gallery",
        ):
            cards = []
            for _ in range(items):
                inner = f"<h3>{_words(rng, t, rng.randrange(2, 4)).title()}</h3><p>{_sentence(rng, t)}</p>"
                if kind in ("products", "menu"):
                    inner += (
                        f'<span class="{c("price")}">${rng.randrange(3, 300)}.{rng.randrange(10, 99)}</span>'
                    )
                if kind in ("gallery", "products", "team", "speakers") or v == 2:
                    inner = f'<div class="{c("thumb")}"></div>' + inner
                cards.append(f'<article class="{c("card")}">{inner}</article>')
            title = f"<h2>{_words(rng, t, rng.randrange(2, 5)).title()}</h2>"
            return f'<section class="{c("section")} {c(kind)}">{title}<div class="{c("grid")}">{"".join(cards)}</div></section>'
        if kind == "stats":
            cells = "".join(
                f'<div class="{c("stat")}"><strong>{rng.randrange(10, 9999)}{rng.choice(["", "%", "k", "+"])}</strong><span>{_words(rng, t, 2)}</span></div>'
                for _ in range(rng.randrange(3, 5))
            )
            return f'<section class="{c("stats")}">{cells}</section>'
        if kind in ("testimonials", "reviews"):
            quotes = "".join(
                f'<blockquote class="{c("quote")}"><p>{_sentence(rng, t, 12, 28)}</p><cite>{_words(rng, t, 2).title()}</cite></blockquote>'
                for _ in range(rng.randrange(2, 4))
            )
            return f'<section class="{c("section")} {c("testimonials")}"><h2>{_words(rng, t, 3).title()}</h2>{quotes}</section>'
        if kind == "pricing":
            tiers = "".join(
                f'<div class="{c("tier")}"><h3>{_words(rng, t, 1).title()}</h3><div class="{c("amount")}">${rng.randrange(5, 99)}</div><ul>'
                + "".join(f"<li>{_words(rng, t, 3)}</li>" for _ in range(rng.randrange(3, 6)))
                + f'</ul><a class="{c("btn")}" href="#">{_words(rng, t, 2)}</a></div>'
                for _ in range(3)
            )
            return f'<section class="{c("section")} {c("pricing")}"><h2>{_words(rng, t, 3).title()}</h2><div class="{c("grid")}">{tiers}</div></section>'
        if kind in ("table", "activity", "hours", "timeline"):
            rows = "".join(
                "<tr>"
                + "".join(f"<td>{_words(rng, t, rng.randrange(1, 3))}</td>" for _ in range(4))
                + "</tr>"
                for _ in range(items + 2)
            )
            return f'<section class="{c("panel")}"><h2>{_words(rng, t, 3).title()}</h2><table class="{c("data-table")}"><tbody>{rows}</tbody></table></section>'
        if kind == "chart":
            bars = "".join(
                f'<div class="{c("bar")}" style="height:{rng.randrange(20, 180)}px"></div>' for _ in range(12)
            )
            return f'<section class="{c("panel")}"><h2>{_words(rng, t, 2).title()}</h2><div class="{c("bars")}">{bars}</div></section>'
        if kind in ("article", "about", "callout", "code", "faq"):
            paras = "".join(f"<p>{_sentence(rng, t, 20, 45)}</p>" for _ in range(rng.randrange(2, 5)))
            if kind == "code":
                paras = (
                    f"<pre><code>const {_words(rng, t, 1)} = await fetch('/api/{_words(rng, t, 1)}');\nconsole.log({rng.randrange(100)});</code></pre>"
                    + paras
                )
            if kind == "faq":
                paras = "".join(
                    f"<details><summary>{_sentence(rng, t, 4, 9)}</summary><p>{_sentence(rng, t)}</p></details>"
                    for _ in range(items)
                )
            return f'<section class="{c("section")} {c(kind)}"><h2>{_words(rng, t, 3).title()}</h2>{paras}</section>'
        if kind in ("form", "contact", "newsletter", "cta"):
            fields = "".join(
                f'<label>{_words(rng, t, 1).title()}<input name="f{i}"></label>'
                for i in range(rng.randrange(1, 4))
            )
            return f'<section class="{c("cta")}"><h2>{_words(rng, t, 4).title()}</h2><p>{_sentence(rng, t)}</p><form class="{c("form")}">{fields}<button class="{c("btn")}">{_words(rng, t, 1)}</button></form></section>'
        if kind == "tags":
            return (
                f'<section class="{c("section")}"><h2>{_words(rng, t, 1).title()}</h2>'
                + "".join(f'<span class="{c("tag")}">{_words(rng, t, 1)}</span>' for _ in range(items * 2))
                + "</section>"
            )
        cols = "".join(
            f"<div><h4>{_words(rng, t, 1).title()}</h4>"
            + "".join(f"<a href='#'>{_words(rng, t, 1)}</a>" for _ in range(3))
            + "</div>"
            for _ in range(rng.randrange(2, 5))
        )
        return f'<footer class="{c("footer")}">{cols}<p>&copy; {rng.randrange(2019, 2027)} {_words(rng, t, 2).title()}</p></footer>'

    def css(self) -> str:
        s = self.s
        h = s.hue
        bg, fg = ("#0f1117", "#e6e8ee") if s.dark else (f"hsl({h}, 30%, 98%)", "#1d2230")
        primary, accent = f"hsl({h}, 70%, 48%)", f"hsl({(h + 150) % 360}, 65%, 55%)"
        r, g = s.radius, s.gap
        c = self.cls
        rules = [
            "*{box-sizing:border-box;margin:0;padding:0}",
            f"body{{font-family:{s.font};background:{bg};color:{fg};line-height:1.{5 + s.gap % 3}}}",
            f"h1{{font-size:{2 + s.gap / 20:.1f}rem;margin-bottom:{g}px}} h2{{font-size:{1.4 + s.radius / 40:.2f}rem;margin:{g}px 0}}",
            f".{c('nav')},.{c('top-bar')}{{display:flex;justify-content:space-between;align-items:center;padding:{g}px {g * 2}px;background:{primary};color:#fff}}",
            f".{c('nav-links')} a,.{c('top-bar')} nav a{{color:#fff;margin-left:{g}px;text-decoration:none}}",
            f".{c('brand')}{{font-weight:800;letter-spacing:{s.radius / 20:.1f}px}}",
            f".{c('hero')},.{c('hero-center')}{{padding:{g * 4}px {g * 2}px;background:linear-gradient(135deg,{primary},{accent});color:#fff;text-align:{'center' if s.cols % 2 else 'left'}}}",
            f".{c('hero-split')}{{display:grid;grid-template-columns:1fr 1fr;gap:{g}px}} .{c('hero-art')}{{min-height:240px;border-radius:{r}px;background:rgba(255,255,255,.25)}}",
            f".{c('btn')}{{display:inline-block;padding:{g // 2}px {g}px;border-radius:{r}px;background:{accent};color:#fff;border:0;text-decoration:none}}",
            f".{c('section')},.{c('panel')},.{c('cta')}{{max-width:{s.width}px;margin:0 auto;padding:{g * 2}px {g}px}}",
            f".{c('grid')}{{display:grid;grid-template-columns:repeat({s.cols},1fr);gap:{g}px}}",
            f".{c('card')},.{c('tier')}{{padding:{g}px;border-radius:{r}px;background:{'#1a1d27' if s.dark else '#fff'};box-shadow:0 {r // 4 + 1}px {r + 4}px rgba(0,0,0,.{1 + s.cols})}}",
            f".{c('thumb')}{{height:{120 + g * 2}px;border-radius:{r}px;background:hsl({(h + 40) % 360},45%,80%);margin-bottom:{g // 2}px}}",
            f".{c('price')},.{c('amount')}{{font-weight:700;color:{primary};font-size:1.{s.cols}rem}}",
            f".{c('stats')}{{display:flex;justify-content:space-around;padding:{g * 2}px;background:{accent};color:#fff}} .{c('stat')} strong{{display:block;font-size:2rem}}",
            f".{c('quote')}{{border-left:{r // 4 + 3}px solid {primary};padding:{g}px;margin:{g}px 0;font-style:italic}}",
            f".{c('side-nav')}{{position:fixed;left:0;top:0;bottom:0;width:{200 + g * 2}px;background:{primary};color:#fff;padding:{g}px}} .{c('side-nav')} a{{color:#fff}} .{c('side-nav')}~*{{margin-left:{200 + g * 2}px}}",
            f".{c('data-table')}{{width:100%;border-collapse:collapse}} .{c('data-table')} td{{padding:{g // 2}px;border-bottom:1px solid hsl({h},20%,85%)}}",
            f".{c('bars')}{{display:flex;align-items:flex-end;gap:{g // 3}px;height:200px}} .{c('bar')}{{flex:1;background:{primary};border-radius:{r // 2}px {r // 2}px 0 0}}",
            f".{c('form')}{{display:flex;gap:{g}px;flex-wrap:wrap;margin-top:{g}px}} .{c('form')} input{{padding:{g // 2}px;border-radius:{r}px;border:1px solid hsl({h},20%,75%)}}",
            f".{c('tag')}{{display:inline-block;margin:4px;padding:4px {g // 2}px;border-radius:999px;background:hsl({h},60%,90%);color:hsl({h},60%,30%)}}",
            f".{c('footer')}{{display:flex;gap:{g * 2}px;flex-wrap:wrap;padding:{g * 2}px;background:{'#07080c' if s.dark else f'hsl({h},25%,14%)'};color:#ccd}} .{c('footer')} a{{display:block;color:#aab}}",
        ]
        return "\n".join(rules)

    def build(self, title: str, heading: str, comments: bool = False, indent: str = "") -> str:
        s = self.s
        rng = random.Random(s.seed)
        self.heading = heading
        sections = {k: self.section(k, rng) for k in dict.fromkeys(ARCHETYPES[s.archetype])}
        body = f"\n{indent}".join(sections[k] for k in s.sections)
        css = self.css()
        libs = "\n".join(CDN[i].format(v=s.versions[i]) for i in s.cdn)
        note = "<!-- generated page -->\n" if comments else ""
        return (
            f'<!DOCTYPE html>\n<html lang="en">\n<head>\n{note}<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{title}</title>\n'
            f"{libs}\n<style>\n{css}\n</style>\n</head>\n<body>\n{indent}{body}\n</body>\n</html>\n"
        )


def _title(spec: _Spec, rng: random.Random) -> tuple[str, str]:
    return _words(rng, spec.topic, spec.title_words).title(), _sentence(rng, spec.topic, 4, 9)


def _variants(spec: _Spec, rng: random.Random) -> list[tuple[str, str]]:
    title, heading = _title(spec, random.Random(spec.seed + 1))
    out = [("original", _Builder(spec).build(title, heading))]
    t2, h2 = _title(spec, rng)
    out.append(("retitled", _Builder(spec).build(t2, h2)))
    recol = _copy(spec, hue=(spec.hue + rng.randrange(60, 300)) % 360)
    out.append(("recoloured", _Builder(recol).build(title, heading)))
    middle = spec.sections[1:-1]
    if len(middle) > 1:
        shuffled = middle[:]
        while shuffled == middle:
            rng.shuffle(shuffled)
        out.append(
            (
                "reordered",
                _Builder(_copy(spec, sections=[spec.sections[0], *shuffled, spec.sections[-1]])).build(
                    title, heading
                ),
            )
        )
    probe = _Builder(spec)
    probe.build(title, heading)
    synonyms = ["block", "box", "wrap", "item", "unit", "zone", "pane", "slab", "tile", "cell"]
    renamed = _copy(
        spec, rename={name: f"{rng.choice(synonyms)}-{i}" for i, name in enumerate(probe.classes)}
    )
    out.append(("renamed_classes", _Builder(renamed).build(title, heading)))
    cdn = _copy(spec, versions=[rng.choice(VERSIONS) for _ in CDN])
    html = _Builder(cdn).build(title, heading, comments=True, indent="    ")
    out.append(("cdn_version", html.replace("https://cdn.jsdelivr.net/npm/", "https://unpkg.com/")))
    out.append(("retitled_recoloured", _Builder(_copy(recol)).build(t2, h2)))
    return out


def _copy(spec: _Spec, **changes: object) -> _Spec:
    new = _Spec.__new__(_Spec)
    new.__dict__.update(spec.__dict__)
    new.__dict__.update(changes)
    return new


def build(n_groups: int, n_distinct: int, seed: int = 0) -> list[Page]:
    """``n_groups`` originals with their variants plus ``n_distinct`` lone originals, shuffled."""
    rng = random.Random(seed)
    pages: list[Page] = []
    for g in range(n_groups):
        spec = _Spec(rng)
        pages += [Page(html, g, name) for name, html in _variants(spec, rng)]
    for g in range(n_groups, n_groups + n_distinct):
        spec = _Spec(rng)
        title, heading = _title(spec, rng)
        pages.append(Page(_Builder(spec).build(title, heading), g, "distinct"))
    rng.shuffle(pages)
    return pages


def documents(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` HTML documents for throughput runs (originals with their variants, cut to ``n``) and
    their group numbers (unique across seeds below 10**6 groups per seed)."""
    rng = random.Random(seed)
    docs: list[str] = []
    groups: list[int] = []
    group = seed * 10**6
    while len(docs) < n:
        variants = _variants(_Spec(rng), rng)
        docs += [html for _, html in variants]
        groups += [group] * len(variants)
        group += 1
    return docs[:n], groups[:n]


def render(pages: list[str], width: int = 1280, height: int = 800, max_height: int = 4000) -> list[bytes]:
    """Full-page PNG screenshots of ``pages`` (HTML text) in one Chromium, network blocked."""
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
        page.route(re.compile(r"^(?!data:|about:).*"), lambda route: route.abort())
        for html in pages:
            page.set_content(html, wait_until="load")
            full = page.evaluate("document.documentElement.scrollHeight")
            clip = {"x": 0, "y": 0, "width": width, "height": min(max(full, height), max_height)}
            shots.append(page.screenshot(full_page=True, clip=clip, animations="disabled"))
        browser.close()
    return shots


def pairwise(labels: list[str] | np.ndarray, groups: list[int] | np.ndarray) -> tuple[float, float]:
    """Pairwise ``(precision, recall)`` of a clustering ``labels`` against true ``groups``.

    A pair counts when both rows share a predicted cluster (predicted) or a group (true).
    """
    labels, groups = np.asarray(labels), np.asarray(groups)

    def same_pairs(keys: list[tuple]) -> int:
        return sum(c * (c - 1) // 2 for c in Counter(keys).values())

    predicted = same_pairs(list(labels.tolist()))
    true = same_pairs(list(groups.tolist()))
    both = same_pairs(list(zip(labels.tolist(), groups.tolist(), strict=True)))
    return (both / predicted if predicted else 1.0), (both / true if true else 1.0)
