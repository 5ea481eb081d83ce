"""The asset store's answers: which bytes a page gets for each CDN file, font and image it asks for.

Pages lean on CDNs (Tailwind's Play CDN, Chart.js, D3, Three.js, Bootstrap, Font Awesome, Google
Fonts...). Rendering stays sealed (a page never reaches the network), and the renderer answers each
such request itself, as the real CDN would:

1. :func:`~aesdata.render.cdn_urls.parse_cdn_url` says which npm package, version spec and file the URL
   names (jsDelivr, unpkg, cdnjs, esm.sh, Font Awesome, Google Fonts, Tailwind Play...).
2. :class:`AssetStore` resolves the spec to one version (pinned in the run's :class:`RunLock`, so a
   re-render makes the same choice), makes sure that exact version is in the content-addressed
   :class:`PackageStore` (fetching it from the npm registry, integrity-checked, when the network policy
   is ``resolve``; ``offline`` uses the store only) and answers with the file's exact bytes.
3. When the exact version cannot be had (offline and not stored, registry down, no such version), a
   stored version of the same major may answer (``same-major``), another major only when the policy
   opts in (``other-major``); otherwise the request is ``blocked``. Every answer says which.

Google Fonts CSS is written from the ``@fontsource`` packages in the shape of the Google API's answer
(``@font-face`` blocks per weight, style and subset with ``unicode-range``; ``font-display`` as asked).
Remote images get a neutral placeholder of the size the URL asks for (:func:`placeholder_image`).

The repo's ``assets.lock.json`` (:mod:`aesdata.render.asset_lock`) pins the packages set-up puts in
the store ahead of time, so ``offline`` machines and tests have them.

Hand-written where no library does it: CDN file layout conventions, fontsource -> Google CSS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
import tarfile
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from aesdata.render.asset_lock import LOCK_PATH, load_lock, missing_packages
from aesdata.render.cdn_urls import (
    ASSET_HOST,
    TAILWIND_PLAY,
    FontsRequest,
    NpmRef,
    fontsource_name,
    parse_cdn_url,
)
from aesdata.render.npm_store import (
    KNOWN_DIST_TAGS,
    PackageStore,
    Registry,
    RegistryError,
    RunLock,
    is_exact,
    major_of,
    resolve_spec,
    store_dir,
)

__all__ = ["ASSET_HOST", "AssetPolicy", "AssetStore", "Answer", "store_dir"]

AnsweredBy = Literal["exact", "same-major", "other-major", "placeholder", "blocked", "sri-rejected"]
_RANK = {"exact": 0, "same-major": 1, "other-major": 2, "placeholder": 3, "blocked": 4, "sri-rejected": 5}

#: Files renamed between majors, used only when a substitute version answers: old name -> new name.
_FILE_ALIASES = {
    "chart.js": {
        name: "dist/chart.umd.min.js"
        for name in ("chart.min.js", "Chart.min.js", "Chart.js", "Chart.bundle.min.js", "Chart.bundle.js")
    },
}
_CONTENT_TYPES = {
    ".js": "application/javascript",
    ".mjs": "application/javascript",
    ".cjs": "application/javascript",
    ".css": "text/css",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".map": "application/json",
}


# ------------------------------------------------------------------------------------------- answers
@dataclass(frozen=True)
class AssetPolicy:
    """How the store answers. ``network``: ``resolve`` (fetch missing exact versions from the registry)
    | ``offline`` (store only); ``fallback``: ``same-major`` (a stored version of the same major may
    stand in) | ``other-major`` (any stored version) | ``none``; ``images``: ``placeholder`` | ``block``
    (remote images); ``sri``: ``strip`` (a file whose bytes differ from the page's ``integrity`` is
    served with the attribute removed) | ``reject`` (left for Chromium to refuse);
    ``registry_timeout_s``: bound of each registry call."""

    network: Literal["resolve", "offline"] = "resolve"
    fallback: Literal["same-major", "other-major", "none"] = "same-major"
    images: Literal["placeholder", "block"] = "placeholder"
    sri: Literal["strip", "reject"] = "strip"
    registry_timeout_s: float = 8.0


@dataclass
class Answer:
    """The store's answer to one URL. ``body`` is ``None`` when nothing is served (blocked).
    ``parts``: one record per thing the URL asked for (a combine URL names several files, a Google
    Fonts URL several families): ``answered_by``, ``package``, ``version``, ``requested``, ``file``,
    ``note``."""

    body: bytes | None
    content_type: str
    parts: list[dict[str, str | None]] = field(default_factory=list)

    @property
    def answered_by(self) -> str:
        """The worst ``answered_by`` of the parts."""
        return max((p["answered_by"] or "blocked" for p in self.parts), key=_RANK.__getitem__)

    @property
    def package(self) -> str | None:
        return ",".join(sorted({p["package"] for p in self.parts if p["package"]})) or None

    @property
    def version(self) -> str | None:
        return ",".join(sorted({p["version"] for p in self.parts if p["version"]})) or None

    @property
    def path(self) -> str | None:
        return ",".join(p["file"] for p in self.parts if p["file"]) or None

    @property
    def substituted(self) -> bool:
        """True when a version other than the one asked for answered."""
        return self.answered_by in ("same-major", "other-major")


def _part(
    answered_by: str,
    package: str | None = None,
    version: str | None = None,
    requested: str = "",
    file: str | None = None,
    note: str = "",
) -> dict[str, str | None]:
    return {
        "answered_by": answered_by,
        "package": package,
        "version": version,
        "requested": requested,
        "file": file,
        "note": note[:200],
    }


class AssetStore:
    """Answers CDN URLs from the package store (see the module docstring).

    ``root``: the store folder (default ``$AESDATA_ASSETS``); ``policy``: :class:`AssetPolicy`;
    ``run_lock``: the run's pins (default: in memory); ``registry``: the npm registry client (default
    ``$AESDATA_NPM_REGISTRY``, bounded by ``policy.registry_timeout_s``). Thread-safe: the browser
    pool calls :meth:`lookup` from worker threads.
    """

    def __init__(
        self,
        root: Path | None = None,
        lock_path: Path = LOCK_PATH,
        policy: AssetPolicy | None = None,
        run_lock: RunLock | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.policy = policy or AssetPolicy()
        self.store = PackageStore(root)
        self.root = self.store.root
        self.lock_path = lock_path
        self.run_lock = run_lock or RunLock()
        self.registry = registry or Registry(timeout_s=self.policy.registry_timeout_s)
        self._index: dict[Path, dict[str, str]] = {}
        self._resolved: dict[tuple[str, str], tuple[str | None, str, str]] = {}
        self._mutex = threading.Lock()

    @property
    def complete(self) -> bool:
        """True when every package of the repo lock is present."""
        return not missing_packages(self.root, self.lock_path)

    def installed(self) -> list[str]:
        """``name@version`` of every package of the repo lock present in the store."""
        return sorted(p.key for p in load_lock(self.lock_path) if self.store.path(p.name, p.version))

    # -- versions ----------------------------------------------------------------------------------
    def resolve(self, name: str, spec: str) -> tuple[str | None, str, str]:
        """Choose the version answering ``name@spec``: (version or None, answered_by, note).

        Pinned in the run lock on first use; an exact version missing from the store is fetched when
        the policy allows. Cached per store."""
        key = (name, spec)
        with self._mutex:
            if key in self._resolved:
                return self._resolved[key]
        with self.store.lock_for(f"{name}@{spec}"):
            with self._mutex:
                if key in self._resolved:
                    return self._resolved[key]
            result = self._resolve(name, spec)
            with self._mutex:
                self._resolved[key] = result
        return result

    def _resolve(self, name: str, spec: str) -> tuple[str | None, str, str]:
        pinned = self.run_lock.get(name, spec)
        want = pinned or (spec.lstrip("v") if is_exact(spec) else None)
        note = ""
        if want is None:  # a range, a tag or nothing: choose among published (or stored) versions
            if self.policy.network == "resolve":
                try:
                    doc = self.registry.packument(name)
                    tags = {**KNOWN_DIST_TAGS.get(name, {}), **doc.get("dist-tags", {})}
                    want = resolve_spec(spec, list(doc.get("versions", {})), tags)
                    if want is None:
                        note = f"no published version of {name} matches {spec!r}"
                except RegistryError as e:
                    note = str(e)
            if want is None and not note.startswith("no published"):
                # offline: the store's versions
                want = resolve_spec(spec, self.store.versions(name), KNOWN_DIST_TAGS.get(name))
                note = note or ("" if want else "offline: no stored version matches")
        if want is not None:
            have = self.store.path(name, want)
            if have is None and self.policy.network == "resolve":
                note = self._fetch(name, want)
                have = self.store.path(name, want)
            elif have is None:
                note = f"offline: {name}@{want} is not in the store"
            if have is not None:
                self.run_lock.put(name, spec, want, self.store.integrity(name, want) or "")
                if KNOWN_DIST_TAGS.get(name, {}).get(spec) == want:
                    return want, "exact", f"dist-tag {spec!r} is {want} (aesdata's table of unlisted tags)"
                return want, "exact", ""
        return self._fallback(name, spec, want, note)

    def _fetch(self, name: str, version: str) -> str:
        """Fetch ``name@version`` into the store; return "" or a short failure note."""
        try:
            doc = self.registry.packument(name)
            dist = doc.get("versions", {}).get(version, {}).get("dist")
            if not dist:
                return f"{name}@{version} is not published"
            data = self.registry.tarball(dist["tarball"])
            self.store.install(name, version, dist["integrity"], data)
            return ""
        except RegistryError as e:
            return str(e)
        except (ValueError, KeyError, OSError, tarfile.TarError) as e:
            return f"store: {e}"[:200]

    def _fallback(self, name: str, spec: str, want: str | None, note: str) -> tuple[str | None, str, str]:
        stored = self.store.versions(name)
        if not stored or self.policy.fallback == "none":
            return None, "blocked", note or f"{name} is not in the store"
        target = want or spec
        family = major_of(target) if re.search(r"\d", target) else None
        same = [v for v in stored if family is None or major_of(v) == family]
        pick = resolve_spec("", same) if same else None
        if pick:
            return pick, "same-major", note
        if self.policy.fallback == "other-major":
            return resolve_spec("", stored), "other-major", note
        return None, "blocked", note or f"no stored {name} of the same major as {target}"

    # -- files -------------------------------------------------------------------------------------
    def _entry(self, base: Path, esm: bool) -> str | None:
        try:
            meta = json.loads((base / "package.json").read_text())
        except (OSError, ValueError):
            return None
        fields = (
            ("module", "browser", "jsdelivr", "unpkg", "main")
            if esm
            else ("jsdelivr", "unpkg", "browser", "main")
        )
        for name in fields:
            value = meta.get(name)
            if isinstance(value, str) and value:
                entry = value.removeprefix("./")
                if (base / entry).is_file():
                    return entry
                if (base / f"{entry}.js").is_file():
                    return f"{entry}.js"
        return "index.js" if (base / "index.js").is_file() else None

    def _file(self, name: str, base: Path, path: str, substitute: bool, esm: bool) -> str | None:
        """The file of the package at ``base`` that answers ``path`` ("" = the entry point)."""
        path = path.strip("/")
        if not path:
            return self._entry(base, esm)
        if ".." in path.split("/"):
            return None
        if substitute:
            alias = _FILE_ALIASES.get(name, {}).get(Path(path).name)
            if alias and (base / alias).is_file():
                return alias
        stem_min = re.sub(r"\.min(\.\w+)$", r"\1", path)
        with_min = re.sub(r"(?<!\.min)(\.(js|css))$", r".min\1", path)
        for cand in (path, f"dist/{path}", with_min, f"dist/{with_min}", stem_min, f"dist/{stem_min}"):
            if (base / cand).is_file():
                return cand
        index = self._basenames(base)  # cdnjs flattens some layouts (three.js/r128/three.min.js)
        for leaf in (Path(path).name, Path(with_min).name):
            if leaf in index:
                return index[leaf]
        return None

    def _basenames(self, base: Path) -> dict[str, str]:
        with self._mutex:
            if base in self._index:
                return self._index[base]
        index: dict[str, str] = {}
        for p in sorted(base.rglob("*"), key=lambda p: (len(p.parts), str(p))):
            if p.is_file():
                index.setdefault(p.name, str(p.relative_to(base)))
        with self._mutex:
            self._index[base] = index
        return index

    def _npm(self, ref: NpmRef) -> tuple[bytes | None, str, dict[str, str | None]]:
        version, how, note = self.resolve(ref.name, ref.spec)
        if version is None:
            return None, "", _part("blocked", ref.name, None, ref.spec, ref.file, note)
        base = self.store.path(ref.name, version)
        assert base is not None
        rel = self._file(ref.name, base, ref.file, how != "exact", ref.esm)
        if rel is None:
            why = f"{ref.file or 'entry point'} is not in {ref.name}@{version}"
            return None, "", _part("blocked", ref.name, version, ref.spec, ref.file, why)
        if ref.esm:
            note = (note + "; " if note else "") + "ES module build stands in for the CDN's bundle"
        if ref.stand_in and how == "exact":
            how, note = (
                "same-major",
                "the URL names no version (an account's kit): the latest free build stands in",
            )
        body = _read(str(base / rel))
        return body, _content_type(rel), _part(how, ref.name, version, ref.spec, rel, note)

    # -- URLs --------------------------------------------------------------------------------------
    def lookup(self, url: str) -> Answer | None:
        """The answer for ``url``, or ``None`` when the URL names nothing on npm (an unknown host)."""
        request = parse_cdn_url(url)
        if request is None:
            return None
        if request.fonts is not None:
            return self._google_fonts(request.fonts)
        if request.tailwind_play is not None:
            return self._tailwind_play(*request.tailwind_play)
        bodies, parts, ctype = [], [], ""
        for ref in request.refs:
            body, one_type, part = self._npm(ref)
            parts.append(part)
            if body is not None:
                bodies.append(body)
                ctype = ctype or one_type
        if not bodies:
            return Answer(None, "", parts)
        return Answer(b"\n".join(bodies), ctype, parts)

    def prepare(self, urls: list[str]) -> list[Answer]:
        """Resolve (and fetch) everything ``urls`` name, as a page load would; return the answers."""
        return [a for a in map(self.lookup, urls) if a is not None]

    def _tailwind_play(self, version: str, plugins: tuple[str, ...]) -> Answer:
        file = (
            "tailwindcss.js"
            if not plugins
            else (
                f"tailwindcss-with-{plugins[0]}.js"
                if len(plugins) == 1
                else "tailwindcss-with-all-plugins.js"
            )
        )
        pkg_version, how, note = self.resolve(TAILWIND_PLAY, "latest")
        if pkg_version is None:
            return Answer(None, "", [_part("blocked", TAILWIND_PLAY, None, version, file, note)])
        base = self.store.path(TAILWIND_PLAY, pkg_version)
        assert base is not None
        if version and (base / version / file).is_file():
            rel, how = f"{version}/{file}", "exact"
        elif version and version != pkg_version:
            rel, how = file, "same-major" if major_of(version) == major_of(pkg_version) else "other-major"
            note = f"Play CDN {version} is not republished on npm; {pkg_version} answers"
            if how == "other-major" and self.policy.fallback != "other-major":
                return Answer(None, "", [_part("blocked", TAILWIND_PLAY, None, version, file, note)])
        else:
            rel = file
        body = _read(str(base / rel))
        return Answer(
            body, "application/javascript", [_part(how, TAILWIND_PLAY, pkg_version, version, rel, note)]
        )

    def _google_fonts(self, request: FontsRequest) -> Answer:
        css: list[str] = []
        parts = []
        for family, styles in request.families:
            name = fontsource_name(family)
            version, how, note = self.resolve(name, "latest")
            if version is None:
                parts.append(
                    _part("blocked", name, None, "", family, note or f"no fontsource package for {family}")
                )
                continue
            block, missing = self._font_css(name, version, styles, request.display)
            if missing:
                how = "same-major" if how == "exact" else how
                note = (note + "; " if note else "") + f"nearest weight for {', '.join(missing)}"
            css.append(block)
            if family.lower().startswith("material icons") or family.lower().startswith("material symbols"):
                css.append(_MATERIAL_ICONS_CLASS.replace("FAMILY", family))
            parts.append(_part(how, name, version, "", family, note))
        if not css:
            return Answer(None, "", parts)
        return Answer("\n".join(css).encode(), "text/css; charset=utf-8", parts)

    def _font_css(
        self, name: str, version: str, styles: list[tuple[int, str]], display: str
    ) -> tuple[str, list[str]]:
        """The @font-face CSS of ``name@version`` for ``styles``; and the styles answered by a nearest weight."""
        base = self.store.path(name, version)
        assert base is not None
        have: dict[tuple[int, str], list[Path]] = {}
        for f in sorted(base.glob("*.css")):
            if m := re.fullmatch(r"(\d+)(-italic)?\.css", f.name):  # fontsource 5: one file per style
                have.setdefault((int(m.group(1)), "italic" if m.group(2) else "normal"), []).append(f)
        if not have:  # fontsource 4: one file per subset and style (latin-400-normal.css)
            for f in sorted(base.glob("*.css")):
                if m := re.fullmatch(r"[a-z0-9-]+?-(\d+)-(normal|italic)\.css", f.name):
                    have.setdefault((int(m.group(1)), m.group(2)), []).append(f)
        if not have:
            have = {(400, "normal"): [base / "index.css"]}
        weights = sorted({w for w, _ in have})
        chunks, missing = [], []
        for weight, style in styles:
            wanted = ([w for w, s in have if s == style] or weights) if weight < 0 else [weight]
            for w in sorted(set(wanted)):
                pick = (w, style) if (w, style) in have else None
                if pick is None:
                    near = min(weights, key=lambda a: abs(a - w))
                    pick = (near, style) if (near, style) in have else (near, "normal")
                    pick = pick if pick in have else next(iter(have))
                    missing.append(f"{w}{' italic' if style == 'italic' else ''}")
                for css_file in have[pick]:
                    text = _read(str(css_file)).decode()
                    text = re.sub(
                        r"url\((['\"]?)(?:\./)?files/",
                        rf"url(\1https://{ASSET_HOST}/npm/{name}@{version}/files/",
                        text,
                    )
                    if pick != (w, style):  # the API answers the weight asked for, drawn by the nearest one
                        text = re.sub(r"font-weight:\s*\d+", f"font-weight: {w}", text)
                    if display == "auto":
                        text = re.sub(r"\s*font-display:\s*\w+;", "", text)
                    else:
                        text = re.sub(r"font-display:\s*\w+", f"font-display: {display}", text)
                    chunks.append(text)
        return "\n".join(dict.fromkeys(chunks)), missing


_MATERIAL_ICONS_CLASS = """.material-icons { font-family: 'FAMILY'; font-weight: normal; font-style: normal; font-size: 24px;
 line-height: 1; letter-spacing: normal; text-transform: none; display: inline-block; white-space: nowrap;
 word-wrap: normal; direction: ltr; -webkit-font-smoothing: antialiased; font-feature-settings: 'liga'; }"""

_IMAGE_EXT = re.compile(r"\.(png|jpe?g|gif|webp|avif|bmp|ico|svg)$", re.I)
_IMAGE_HOSTS = re.compile(
    r"(unsplash\.com|picsum\.photos|placehold|placeholder|dummyimage|imgur\.com|pexels\.com|pravatar|"
    r"randomuser\.me|loremflickr|placekitten|gravatar|ui-avatars|robohash|dicebear)",
    re.I,
)


def looks_like_image(url: str, resource_type: str) -> bool:
    """True for a request the page makes for an image (by its type, extension or a photo host)."""
    if resource_type == "image":
        return True
    parts = urlsplit(url)
    return bool(_IMAGE_EXT.search(parts.path)) or bool(_IMAGE_HOSTS.search(parts.hostname or ""))


def image_size(url: str) -> tuple[int, int]:
    """The (width, height) an image URL asks for: ``w``/``h`` query values (unsplash, imgix),
    ``WxH`` path parts (placehold.co, via.placeholder, source.unsplash), ``/W/H`` (picsum); 800x600
    when it says nothing; a width alone keeps a 3:2 shape."""
    parts = urlsplit(url)
    q = {k.lower(): v[0] for k, v in parse_qs(parts.query).items()}
    w = _int(q.get("w") or q.get("width"))
    h = _int(q.get("h") or q.get("height"))
    if not w:
        m = re.search(r"/(\d{2,4})[x×](\d{2,4})(?:[/.?]|$)", parts.path)
        if m:
            w, h = int(m.group(1)), int(m.group(2))
    if not w and "picsum" in (parts.hostname or ""):
        nums = [int(n) for n in re.findall(r"/(\d{2,4})(?=/|$)", parts.path)]
        if nums:
            w, h = (nums[-2], nums[-1]) if len(nums) >= 2 else (nums[-1], nums[-1])
    if not w and "placeholder" in (parts.hostname or ""):
        m = re.search(r"/(\d{2,4})(?:[/.?]|$)", parts.path)
        if m:
            w = h = int(m.group(1))
    w = min(w or 800, 4000)
    return w, min(h or (w * 2 // 3 if w != 800 else 600), 4000)


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def placeholder_image(url: str) -> tuple[bytes, str]:
    """A deterministic neutral placeholder (SVG) of the size ``url`` asks for: (body, content type)."""
    w, h = image_size(url)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
        f'<rect width="{w}" height="{h}" fill="#d5d9df"/></svg>'
    )
    return svg.encode(), "image/svg+xml"


def sri_matches(integrity: str, body: bytes) -> bool:
    """True when ``body`` satisfies the ``integrity`` attribute value (any listed hash of the
    strongest algorithm, as Chromium checks)."""
    hashes = [h for h in integrity.split() if "-" in h]
    order = {"sha512": 3, "sha384": 2, "sha256": 1}
    hashes = [h.split("?")[0] for h in hashes if h.split("-", 1)[0] in order]
    if not hashes:
        return True
    best = max(order[h.split("-", 1)[0]] for h in hashes)
    for h in hashes:
        algo, _, digest = h.partition("-")
        if order[algo] == best and base64.b64encode(hashlib.new(algo, body).digest()).decode() == digest:
            return True
    return False


def _content_type(rel: str) -> str:
    return _CONTENT_TYPES.get(Path(rel).suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"


@lru_cache(maxsize=512)
def _read(path: str) -> bytes:
    return Path(path).read_bytes()
