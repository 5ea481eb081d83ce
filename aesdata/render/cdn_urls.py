"""CDN URL -> (npm package, version spec, file): what a page's CDN link names, without fetching anything.

:func:`parse_cdn_url` understands jsDelivr (``/npm/PKG@VER/FILE``, ``/combine/npm/a,npm/b``, ``/+esm``),
unpkg, cdnjs (library names mapped to npm names by :data:`CDNJS_TO_NPM`), esm.sh / skypack-style hosts,
Font Awesome's CDNs (use.fontawesome.com, kits, bootstrapcdn), Bootstrap's and jQuery's CDNs, Google's
hosted libraries, Tailwind's Play CDN (``cdn.tailwindcss.com/3.4.1?plugins=...``) and the Google Fonts
CSS APIs (v1 ``/css`` and v2 ``/css2``, ``/icon``: families, weights, italics, ``display``).

It returns a :class:`CdnRequest`: one or more :class:`NpmRef` (a combine URL names several files) or a
:class:`FontsRequest`, or ``None`` for a URL that names no npm file. The version spec is kept as
written (``"2.8.0"``, ``"3"``, ``"^3.1"``, ``"latest"`` or ``""``); resolving it to one version is the
store's job (:mod:`aesdata.render.assets`).

Hand-written: no library maps CDN URL conventions to npm package files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

#: Host of URLs that aesdata itself writes (font files named by generated Google Fonts CSS):
#: ``https://assets.aesdata.invalid/npm/PKG@VER/FILE``. ``.invalid`` never resolves.
ASSET_HOST = "assets.aesdata.invalid"

#: cdnjs library name (lower case) -> npm package name, where they differ. A name not listed is
#: taken as the npm name itself (true for most cdnjs libraries). ``None``: cdnjs only, no npm source.
CDNJS_TO_NPM: dict[str, str | None] = {
    "three.js": "three",
    "chart.js": "chart.js",
    "alpine.js": "alpinejs",
    "twitter-bootstrap": "bootstrap",
    "font-awesome": "@fortawesome/fontawesome-free",  # 4.x: see _FA4 below
    "lodash.js": "lodash",
    "moment.js": "moment",
    "anime.js": "animejs",
    "p5.js": "p5",
    "pixi.js": "pixi.js",
    "tween.js": "@tweenjs/tween.js",
    "hammer.js": "hammerjs",
    "highlight.js": "@highlightjs/cdn-assets",
    "prism": "prismjs",
    "materialize": "materialize-css",
    "foundation": "foundation-sites",
    "semantic-ui": "semantic-ui-css",
    "normalize": "normalize.css",
    "toastr.js": "toastr",
    "owl-carousel": "owl.carousel",
    "owl.carousel": "owl.carousel",
    "owlcarousel2": "owl.carousel",
    "slick-carousel": "slick-carousel",
    "scrollReveal.js": "scrollreveal",
    "scrollreveal.js": "scrollreveal",
    "vanilla-tilt": "vanilla-tilt",
    "typed.js": "typed.js",
    "countup.js": "countup.js",
    "jquery-easing": "jquery.easing",
    "jqueryui": "jquery-ui-dist",
    "faker": "faker",
    "simplelightbox": "simplelightbox",
    "bodymovin": "lottie-web",
    "scrollmagic": "scrollmagic",
    "gsap": "gsap",
    "babylonjs": "babylonjs",
    "phaser": "phaser",
    "matter-js": "matter-js",
    "howler": "howler",
    "swiper": "swiper",
    "aos": "aos",
    "ionicons": "ionicons",
    "boxicons": "boxicons",
    "jquery": "jquery",
    "popper.js": "popper.js",
    "d3": "d3",
    "marked": "marked",
    "mermaid": "mermaid",
    "fullcalendar": "fullcalendar",
    "leaflet": "leaflet",
    "echarts": "echarts",
    "plotly.js": "plotly.js-dist",
    "vue": "vue",
    "axios": "axios",
    "sweetalert2": "sweetalert2",
    "tailwindcss": "tailwindcss",
    "bulma": "bulma",
    "animate.css": "animate.css",
    "hover.css": "hover.css",
    "particles.js": "particles.js",
    "tsparticles": "tsparticles",
    "bootstrap-icons": "bootstrap-icons",
    "material-design-icons": "material-design-icons",
    "flowbite": "flowbite",
    "daisyui": "daisyui",
    "lottie-web": "lottie-web",
    "tone": "tone",
    "chartjs-plugin-datalabels": "chartjs-plugin-datalabels",
    "camanjs": "caman",
    "skeleton": "skeleton-css",
    "bootswatch": "bootswatch",
    "datatables": None,
}
#: cdnjs library versions that npm has only under another package name: (cdnjs name, version) -> npm
#: name. Each package carries the project's own file of that release byte for byte.
CDNJS_OLD_VERSIONS: dict[tuple[str, str], str] = {
    # npm's modernizr starts at 3.0; npm-modernizr@2.8.3's modernizr.js is Modernizr's v2.8.3 tag's
    # modernizr.js (sha256 7dfc3ef73c12..., the same bytes)
    ("modernizr", "2.8.3"): "npm-modernizr",
}
#: Packages whose pre-5 majors lived under another npm name.
_FA = "@fortawesome/fontawesome-free"
_FA4 = "font-awesome"
#: The Play CDN script as cdn.tailwindcss.com serves it, republished on npm with one folder per version.
TAILWIND_PLAY = "tailwindcss-cdn"


@dataclass(frozen=True)
class NpmRef:
    """One npm file a URL names: ``name``, ``spec`` (version or range as written, "" = none), ``file``
    (path inside the package, "" = the package's browser entry), ``esm`` (the CDN would serve an ES
    module build of the entry, not a file of the tarball), ``stand_in`` (the URL names no version at
    all, e.g. an account's Font Awesome kit: whatever answers is a substitute)."""

    name: str
    spec: str
    file: str
    esm: bool = False
    stand_in: bool = False


@dataclass(frozen=True)
class FontsRequest:
    """A Google Fonts CSS request: ``families`` as (family, [(weight, style)]) with weight -1 = every
    weight of a range, ``display`` (font-display), ``api`` css | css2 | icon."""

    families: list[tuple[str, list[tuple[int, str]]]]
    display: str
    api: str


@dataclass(frozen=True)
class CdnRequest:
    """What a CDN URL asks for: ``refs`` (npm files; several for a jsDelivr combine URL), or ``fonts``
    (a Google Fonts CSS request), ``tailwind_play`` (Play CDN: version as written, plugin list)."""

    refs: list[NpmRef] = field(default_factory=list)
    fonts: FontsRequest | None = None
    tailwind_play: tuple[str, tuple[str, ...]] | None = None


def split_spec(spec_and_path: str) -> NpmRef:
    """``"@scope/name@1.2/dist/x.js"`` -> ``NpmRef("@scope/name", "1.2", "dist/x.js")``."""
    parts = spec_and_path.lstrip("/").split("/")
    n = 2 if parts[0].startswith("@") and len(parts) > 1 else 1
    head, rest = "/".join(parts[:n]), "/".join(parts[n:])
    at = head.find("@", 1)
    name, version = (head[:at], head[at + 1 :]) if at > 0 else (head, "")
    return NpmRef(name, version, rest)


def cdnjs_npm_name(lib: str, version: str) -> str | None:
    """The npm name of cdnjs library ``lib`` at ``version`` (Font Awesome 4 is ``font-awesome``; see
    also :data:`CDNJS_OLD_VERSIONS`)."""
    key = lib.lower()
    if (key, version) in CDNJS_OLD_VERSIONS:
        return CDNJS_OLD_VERSIONS[key, version]
    if key == "font-awesome" and version.split(".")[0] in ("3", "4"):
        return _FA4
    if key in CDNJS_TO_NPM:
        return CDNJS_TO_NPM[key]
    return key


def parse_cdn_url(url: str) -> CdnRequest | None:
    """Return what ``url`` names on npm (see the module docstring), or ``None``."""
    parts = urlsplit(url if not url.startswith("//") else "https:" + url)
    host, path = (parts.hostname or "").lower(), unquote(parts.path)
    query = parse_qs(parts.query)
    one = _one(host, path, query)
    if one is None:
        return None
    if isinstance(one, CdnRequest):
        return one
    return CdnRequest(refs=[one])


def _one(host: str, path: str, query: dict[str, list[str]]) -> NpmRef | CdnRequest | None:
    if host == ASSET_HOST and path.startswith("/npm/"):
        return split_spec(path[len("/npm/") :])
    if host in ("cdn.jsdelivr.net", "fastly.jsdelivr.net", "gcore.jsdelivr.net"):
        if path.startswith("/combine/"):
            refs = [
                split_spec(p[len("npm/") :])
                for p in path[len("/combine/") :].split(",")
                if p.startswith("npm/")
            ]
            return CdnRequest(refs=refs) if refs else None
        if path.startswith("/npm/"):
            esm = path.endswith("/+esm")
            ref = split_spec(path[len("/npm/") : -len("/+esm")] if esm else path[len("/npm/") :])
            return NpmRef(ref.name, ref.spec, "" if esm else ref.file, esm)
        return None
    if host in ("unpkg.com", "npmcdn.com"):
        ref = split_spec(path)
        return NpmRef(ref.name, ref.spec, ref.file, "module" in query)
    if host in ("esm.sh", "cdn.skypack.dev", "esm.run", "jspm.dev", "ga.jspm.io"):
        trimmed = re.sub(r"^/(v\d+/|npm:)", "/", path)
        if host == "ga.jspm.io":
            trimmed = trimmed.removeprefix("/npm:")
        ref = split_spec(trimmed)
        return NpmRef(ref.name, ref.spec, ref.file if "." in ref.file.rsplit("/", 1)[-1] else "", True)
    if host == "cdnjs.cloudflare.com" and path.startswith("/ajax/libs/"):
        lib, _, rest = path[len("/ajax/libs/") :].partition("/")
        version, _, file = rest.partition("/")
        name = cdnjs_npm_name(lib, version)
        if name is None:
            return None
        if name == "three" and version.startswith("r"):
            version = f"0.{version[1:]}.0"
        return NpmRef(name, version, file)
    if host == "cdn.tailwindcss.com":
        plugins = tuple(p for p in ",".join(query.get("plugins", [])).split(",") if p)
        return CdnRequest(tailwind_play=(path.strip("/"), plugins))
    if host == "code.jquery.com":
        m = re.match(r"/jquery-(\d[\w.]*?)(\.slim)?(\.min)?\.js$", path)
        if m:
            return NpmRef("jquery", m.group(1), f"dist/jquery{m.group(2) or ''}{m.group(3) or ''}.js")
        m = re.match(r"/ui/(\d[\w.]*)/(.+)$", path)
        return NpmRef("jquery-ui-dist", m.group(1), m.group(2)) if m else None
    if host == "ajax.googleapis.com" and path.startswith("/ajax/libs/"):
        lib, _, rest = path[len("/ajax/libs/") :].partition("/")
        version, _, file = rest.partition("/")
        name = {"jquery": "jquery", "jqueryui": "jquery-ui-dist", "threejs": "three", "d3js": "d3"}.get(lib)
        if name == "three" and version.startswith("r"):
            version = f"0.{version[1:]}.0"
        return NpmRef(name, version, file) if name else None
    if host == "bootswatch.com":  # bootswatch.com/4/flatly/bootstrap.min.css: the theme's build of a major
        m = re.match(r"/(\d+)/([\w-]+)/(bootstrap(?:\.min)?\.css)$", path)
        return NpmRef("bootswatch", m.group(1), f"dist/{m.group(2)}/{m.group(3)}") if m else None
    if host.endswith("bootstrapcdn.com"):
        if "/bootswatch/" in path:
            version, _, file = path.split("/bootswatch/", 1)[1].partition("/")
            return NpmRef("bootswatch", version, f"dist/{file}")
        for marker, name in (("/bootstrap/", "bootstrap"), ("/font-awesome/", None)):
            if marker in path:
                version, _, file = path.split(marker, 1)[1].partition("/")
                return NpmRef(name or cdnjs_npm_name("font-awesome", version) or _FA, version, file)
        return None
    if host in ("use.fontawesome.com", "pro.fontawesome.com") and path.startswith("/releases/v"):
        version, _, file = path[len("/releases/v") :].partition("/")
        return NpmRef(_FA, version, file)
    if host == "kit.fontawesome.com" and path.endswith(".js"):
        return NpmRef(_FA, "", "js/all.min.js", stand_in=True)  # an account's kit: the free SVG+JS build
    if host == "fonts.googleapis.com":
        fonts = parse_google_fonts(path, query)
        return CdnRequest(fonts=fonts) if fonts else None
    if host == "d3js.org":
        m = re.match(r"/d3(?:\.v(\d+))?(\.min)?\.js$", path)
        return NpmRef("d3", m.group(1) or "", f"dist/d3{m.group(2) or ''}.js") if m else None
    return None


def parse_google_fonts(path: str, query: dict[str, list[str]]) -> FontsRequest | None:
    """Parse a fonts.googleapis.com request (path and parsed query) into a :class:`FontsRequest`."""
    if path == "/icon":
        families = [(f, [(400, "normal")]) for f in query.get("family", [""])[0].split("|") if f]
        api = "icon"
    elif path in ("/css", "/css2"):
        families = []
        for spec in query.get("family", []):
            for one in spec.split("|") if path == "/css" else [spec]:
                if one.strip():
                    families.append(parse_family(one, v2=path == "/css2"))
        api = path.strip("/")
    else:
        return None
    if not families:
        return None
    return FontsRequest(families, query.get("display", ["auto"])[0], api)


def parse_family(spec: str, v2: bool) -> tuple[str, list[tuple[int, str]]]:
    """Parse one Google Fonts ``family=`` value into (family, [(weight, style)]); weight -1 = a range.

    css2: ``Inter:ital,wght@0,400;1,700`` / ``Inter:wght@300;700`` / ``Inter:wght@100..900``.
    css: ``Roboto:300,400i,700italic``.
    """
    name, _, axes = spec.partition(":")
    family = name.replace("+", " ").strip()
    styles: list[tuple[int, str]] = []
    if not axes:
        return family, [(400, "normal")]
    if v2:
        keys, _, values = axes.partition("@")
        keys_list = keys.split(",")
        for tuple_text in values.split(";"):
            vals = dict(zip(keys_list, tuple_text.split(","), strict=False))
            style = "italic" if vals.get("ital") == "1" else "normal"
            wght = vals.get("wght", "400")
            if ".." in wght:
                styles.append((-1, style))
            elif wght.isdigit():
                styles.append((int(wght), style))
    else:
        for item in axes.split(","):
            m = re.fullmatch(r"(\d+)?(i|italic)?", item.strip())
            if m:
                styles.append((int(m.group(1) or 400), "italic" if m.group(2) else "normal"))
    return family, styles or [(400, "normal")]


def fontsource_name(family: str) -> str:
    """The @fontsource package of a Google Fonts family: ``"Press Start 2P"`` -> ``@fontsource/press-start-2p``."""
    return "@fontsource/" + re.sub(r"[^a-z0-9]+", "-", family.lower()).strip("-")


_URL_IN_HTML = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}/[^\s"'<>()`\\]*""")


def urls_in_html(html: str) -> list[str]:
    """The CDN URLs written in ``html`` (attributes, inline CSS ``url()``/``@import``, script text) that
    name something on npm, absolute (``//host`` becomes ``https://host``), in order, without repeats."""
    seen: dict[str, None] = {}
    for m in _URL_IN_HTML.finditer(html):
        url = m.group(0).replace("&amp;", "&")
        url = "https:" + url if url.startswith("//") else url
        if url not in seen and parse_cdn_url(url) is not None:
            seen[url] = None
    return list(seen)
