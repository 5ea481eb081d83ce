"""The local asset store: pinned CDN libraries and web fonts, served to pages instead of the network.

Generated pages lean on CDNs (Tailwind Play CDN, Chart.js, D3, Three.js, Alpine, Bootstrap, Font
Awesome, Google Fonts). Rendering must be offline and the same every time, so:

- ``assets.lock.json`` (in the repo) pins each npm package by name, version and the tarball's
  sha512 ``integrity`` as the registry publishes it. :func:`pin_packages` writes entries from
  ``npm view``; nothing else edits the lock.
- :func:`fill_store` downloads each tarball once with ``npm pack`` (set-up time, never render time),
  checks its sha512 against the lock and unpacks it into the store directory (``$AESDATA_ASSETS``,
  default ``~/.cache/aesdata/assets``), one folder per ``name@version``.
- :class:`AssetStore` maps a CDN URL (jsDelivr, unpkg, cdnjs, cdn.tailwindcss.com, code.jquery.com,
  Google's jQuery and Bootstrap CDNs, Font Awesome's, fonts.googleapis.com) to a file of a pinned
  package. A request for another version gets the nearest pinned version (same major first) and the
  substitution is recorded. Google Fonts CSS is generated locally from ``@fontsource`` packages.

The URL mapping is hand-written: no library maps CDN URL conventions to npm package files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from aesdata.errors import AesdataError

LOCK_PATH = Path(__file__).with_name("assets.lock.json")
#: Host of generated URLs (font files referenced by generated Google Fonts CSS). ``.invalid`` never
#: resolves, so even a routing bug cannot send such a request anywhere.
ASSET_HOST = "assets.aesdata.invalid"
_MARKER = ".aesdata-integrity"

_CDNJS_NAMES = {
    "three.js": "three",
    "chart.js": "chart.js",
    "d3": "d3",
    "alpinejs": "alpinejs",
    "alpine.js": "alpinejs",
    "bootstrap": "bootstrap",
    "twitter-bootstrap": "bootstrap",
    "font-awesome": "@fortawesome/fontawesome-free",
    "jquery": "jquery",
    "gsap": "gsap",
    "animate.css": "animate.css",
    "tailwindcss": "tailwindcss",
}
#: Files renamed between majors: the old classic-script name -> the pinned version's equivalent.
_FILE_ALIASES = {
    "chart.js": {
        name: "dist/chart.umd.min.js"
        for name in (
            "chart.min.js",
            "Chart.min.js",
            "Chart.js",
            "Chart.bundle.min.js",
            "Chart.bundle.js",
            "chart.js",
        )
    },
}
_TAILWIND_PLAY = "tailwindcss-cdn"
_FA = "@fortawesome/fontawesome-free"
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


# --------------------------------------------------------------------------------------------- lock
@dataclass(frozen=True)
class LockedPackage:
    """One pinned npm package: ``name``, ``version``, sha512 ``integrity`` (SRI form), ``note``."""

    name: str
    version: str
    integrity: str
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


def load_lock(path: Path = LOCK_PATH) -> list[LockedPackage]:
    """Read the lock file at ``path`` into a list of :class:`LockedPackage`."""
    data = json.loads(path.read_text())
    return [LockedPackage(**entry) for entry in data["packages"]]


def lock_hash(path: Path = LOCK_PATH) -> str:
    """Return a short sha256 of the lock file (recorded in the run manifest)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def pin_packages(specs: list[tuple[str, str]], path: Path = LOCK_PATH) -> list[LockedPackage]:
    """Resolve ``(npm spec, note)`` pairs with ``npm view`` and write them as the lock at ``path``.

    A maintenance step (changing pins), not part of set-up. Returns the written entries.
    """
    entries: list[LockedPackage] = []
    for spec, note in specs:
        out = _npm(["view", spec, "name", "version", "dist.integrity", "--json"])
        info = json.loads(out)
        if isinstance(info, list):  # a range matched several versions: take the newest
            info = info[-1]
        entries.append(LockedPackage(info["name"], info["version"], info["dist.integrity"], note))
    payload = {"lock_version": 1, "packages": [e.__dict__ for e in entries]}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return entries


def store_dir() -> Path:
    """The store directory: ``$AESDATA_ASSETS`` or ``~/.cache/aesdata/assets``."""
    return Path(os.environ.get("AESDATA_ASSETS") or Path.home() / ".cache" / "aesdata" / "assets")


def _npm(args: list[str], cwd: Path | None = None) -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise AesdataError(
            "npm is needed to fill the asset store but is not on PATH.", "Install Node.js 18+ with npm."
        )
    proc = subprocess.run([npm, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    if proc.returncode != 0:
        raise AesdataError(
            f"`npm {' '.join(args)}` failed: {proc.stderr.strip()[-400:]}",
            "Check that the npm registry is reachable.",
        )
    return proc.stdout


def _sri_sha512(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def package_dir(pkg: LockedPackage, root: Path) -> Path:
    """Folder of ``pkg`` inside the store ``root``."""
    return root / pkg.key.replace("/", "__")


def missing_packages(root: Path | None = None, lock_path: Path = LOCK_PATH) -> list[LockedPackage]:
    """Return the locked packages not (or not verifiably) present in the store."""
    root = root or store_dir()
    out = []
    for pkg in load_lock(lock_path):
        marker = package_dir(pkg, root) / _MARKER
        if not marker.is_file() or marker.read_text().strip() != pkg.integrity:
            out.append(pkg)
    return out


def store_status(root: Path | None = None, lock_path: Path = LOCK_PATH) -> tuple[bool, str]:
    """For ``aesdata doctor``: (complete?, one line saying where the store is and what it holds)."""
    root = root or store_dir()
    total = len(load_lock(lock_path))
    missing = missing_packages(root, lock_path)
    line = f"{total - len(missing)}/{total} pinned packages in {root} (lock {lock_hash(lock_path)})"
    if missing:
        line += f"; missing {', '.join(p.key for p in missing[:3])}{'...' if len(missing) > 3 else ''}"
    return not missing, line


def fill_store(
    root: Path | None = None, lock_path: Path = LOCK_PATH, log: Callable[[str], None] = print
) -> dict[str, int]:
    """Download, integrity-check and unpack every locked package missing from the store.

    Uses ``npm pack <name>@<version>`` (the registry's own client). A tarball whose sha512 differs
    from the lock raises :class:`AesdataError` and nothing of it is kept. Returns counts
    ``{"present": n, "fetched": m}``.
    """
    root = root or store_dir()
    root.mkdir(parents=True, exist_ok=True)
    todo = missing_packages(root, lock_path)
    total = len(load_lock(lock_path))
    for pkg in todo:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            tmpdir = Path(tmp)
            out = json.loads(_npm(["pack", pkg.key, "--json", "--pack-destination", str(tmpdir)], cwd=tmpdir))
            tarball = tmpdir / out[0]["filename"]
            actual = _sri_sha512(tarball)
            if actual != pkg.integrity:
                raise AesdataError(
                    f"Integrity mismatch for {pkg.key}: lock says {pkg.integrity[:24]}..., registry gave {actual[:24]}...",
                    "The package was republished or the download is corrupt; re-pin it deliberately with pin_packages.",
                )
            unpack = tmpdir / "unpacked"
            with tarfile.open(tarball) as tar:
                tar.extractall(unpack, filter="data")
            inner = next(unpack.iterdir())  # npm tarballs hold one top folder, usually "package/"
            (inner / _MARKER).write_text(pkg.integrity + "\n")
            dest = package_dir(pkg, root)
            if dest.exists():
                shutil.rmtree(dest)
            inner.rename(dest)
        log(f"asset store: {pkg.key} ok")
    return {"present": total - len(todo), "fetched": len(todo)}


# ---------------------------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class Asset:
    """A request answered from the store: ``body`` bytes, ``content_type``, and provenance
    (``package``, ``version``, ``path`` inside the package, ``requested_version`` as the URL said)."""

    body: bytes
    content_type: str
    package: str
    version: str
    path: str
    requested_version: str | None

    @property
    def substituted(self) -> bool:
        """True when the page asked for a version other than the one served."""
        return self.requested_version not in (None, "", "latest", self.version)


def _vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3])


def _split_spec(spec_and_path: str) -> tuple[str, str | None, str]:
    """``"@scope/name@1.2/dist/x.js"`` -> ``("@scope/name", "1.2", "dist/x.js")``."""
    parts = spec_and_path.lstrip("/").split("/")
    n = 2 if parts[0].startswith("@") else 1
    spec, rest = "/".join(parts[:n]), "/".join(parts[n:])
    name, _, version = (
        spec.rpartition("@") if spec.count("@") > (1 if spec.startswith("@") else 0) else (spec, "", "")
    )
    return name, version or None, rest


class AssetStore:
    """Maps CDN URLs to files of the pinned packages in a filled store (see module docstring).

    ``root``: the store folder; ``lock_path``: the lock. :meth:`lookup` returns an :class:`Asset` or
    ``None`` (the caller blocks the request). File bodies are cached in memory.
    """

    def __init__(self, root: Path | None = None, lock_path: Path = LOCK_PATH) -> None:
        self.root = root or store_dir()
        self.lock_path = lock_path
        self.packages: dict[str, list[LockedPackage]] = {}
        for pkg in load_lock(lock_path):
            if (package_dir(pkg, self.root) / _MARKER).is_file():
                self.packages.setdefault(pkg.name, []).append(pkg)
        for versions in self.packages.values():
            versions.sort(key=lambda p: _vtuple(p.version))
        self._basenames: dict[str, dict[str, str]] = {}

    @property
    def complete(self) -> bool:
        """True when every locked package is present."""
        return not missing_packages(self.root, self.lock_path)

    def installed(self) -> list[str]:
        """``name@version`` of every package present in the store."""
        return sorted(p.key for versions in self.packages.values() for p in versions)

    # -- version and file choice --------------------------------------------------------------
    def _candidates(self, name: str, requested: str | None) -> list[LockedPackage]:
        """Pinned versions of ``name``, best first: exact; same major (same minor for 0.x) with the
        requested prefix; same major; then by distance of (major, minor, patch); newest wins ties."""
        versions = self.packages.get(name, [])
        want = _vtuple(requested or "")
        if not want:
            return versions[::-1]
        family = want[:2] if want[0] == 0 else want[:1]

        def rank(pkg: LockedPackage) -> tuple:
            have = _vtuple(pkg.version)
            return (
                pkg.version != requested,
                have[: len(want)] != want,
                have[: len(family)] != family,
                tuple(abs(a - b) for a, b in zip(have, want, strict=False)),
                tuple(-n for n in have),
            )

        return sorted(versions, key=rank)

    def _index(self, pkg: LockedPackage) -> dict[str, str]:
        key = pkg.key
        if key not in self._basenames:
            base = package_dir(pkg, self.root)
            index: dict[str, str] = {}
            for path in sorted(base.rglob("*"), key=lambda p: (len(p.parts), str(p))):
                if path.is_file():
                    index.setdefault(path.name, str(path.relative_to(base)))
            self._basenames[key] = index
        return self._basenames[key]

    def _entry_file(self, pkg: LockedPackage) -> str | None:
        meta = json.loads((package_dir(pkg, self.root) / "package.json").read_text())
        for field in ("jsdelivr", "unpkg", "browser", "main"):
            value = meta.get(field)
            if isinstance(value, str):
                return value.lstrip("./")
        return None

    def _file(self, pkg: LockedPackage, path: str) -> str | None:
        base = package_dir(pkg, self.root)
        path = path.strip("/")
        if not path:
            path = self._entry_file(pkg) or ""
        if not path or ".." in path.split("/"):
            return None
        alias = _FILE_ALIASES.get(pkg.name, {}).get(Path(path).name)
        if alias and (base / alias).is_file():
            return alias
        stem_min = re.sub(r"\.min(\.\w+)$", r"\1", path)
        with_min = re.sub(r"(?<!\.min)(\.(js|css))$", r".min\1", path)
        for cand in (path, f"dist/{path}", stem_min, f"dist/{stem_min}", with_min, f"dist/{with_min}"):
            if (base / cand).is_file():
                return cand
        index = self._index(pkg)
        for name in (Path(path).name, Path(with_min).name, Path(stem_min).name):
            if name in index:
                return index[name]
        return None

    def _asset(self, name: str, requested: str | None, path: str) -> Asset | None:
        for pkg in self._candidates(name, requested):
            rel = self._file(pkg, path)
            if rel is not None:
                break
        else:
            return None
        body = _read(str(package_dir(pkg, self.root) / rel))
        ctype = (
            _CONTENT_TYPES.get(Path(rel).suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"
        )
        return Asset(body, ctype, pkg.name, pkg.version, rel, requested)

    # -- URL conventions -------------------------------------------------------------------------
    def lookup(self, url: str) -> Asset | None:
        """Return the store's answer for ``url``, or ``None`` when the store has nothing for it."""
        parts = urlsplit(url)
        host, path = parts.hostname or "", unquote(parts.path)
        query = parse_qs(parts.query)
        if host == ASSET_HOST and path.startswith("/npm/"):
            name, version, rest = _split_spec(path[len("/npm/") :])
            return self._asset(name, version, rest)
        if host == "cdn.jsdelivr.net" and path.startswith("/npm/"):
            if path.endswith("/+esm"):
                return None
            name, version, rest = _split_spec(path[len("/npm/") :])
            return self._asset(name, version, rest)
        if host == "unpkg.com":
            if "module" in query:
                return None
            name, version, rest = _split_spec(path)
            return self._asset(name, version, rest)
        if host == "cdnjs.cloudflare.com" and path.startswith("/ajax/libs/"):
            lib, _, rest = path[len("/ajax/libs/") :].partition("/")
            version, _, file = rest.partition("/")
            name = _CDNJS_NAMES.get(lib.lower())
            if name == "three" and version.startswith("r"):
                version = f"0.{version[1:]}.0"
            return self._asset(name, version, file) if name else None
        if host == "cdn.tailwindcss.com":
            return self._tailwind_play(path, query)
        if host == "code.jquery.com":
            m = re.match(r"/jquery-(\d[\w.]*?)(\.slim)?(\.min)?\.js$", path)
            return (
                self._asset("jquery", m.group(1), f"dist/jquery{m.group(2) or ''}{m.group(3) or ''}.js")
                if m
                else None
            )
        if host == "ajax.googleapis.com" and path.startswith("/ajax/libs/jquery/"):
            version, _, file = path[len("/ajax/libs/jquery/") :].partition("/")
            return self._asset("jquery", version, f"dist/{file}")
        if host.endswith("bootstrapcdn.com") and "/bootstrap/" in path:
            version, _, file = path.split("/bootstrap/", 1)[1].partition("/")
            return self._asset("bootstrap", version, f"dist/{file}")
        if host.endswith("bootstrapcdn.com") and "/font-awesome/" in path:
            version, _, file = path.split("/font-awesome/", 1)[1].partition("/")
            return self._asset(_FA, version, file)
        if host == "use.fontawesome.com" and path.startswith("/releases/v"):
            version, _, file = path[len("/releases/v") :].partition("/")
            return self._asset(_FA, version, file)
        if host == "kit.fontawesome.com" and path.endswith(".js"):
            return self._asset(_FA, None, "js/all.min.js")  # a kit's icons, as the free SVG+JS build
        if host == "fonts.googleapis.com":
            return self._google_fonts(path, query)
        return None

    def _tailwind_play(self, path: str, query: dict[str, list[str]]) -> Asset | None:
        plugins = [p for p in ",".join(query.get("plugins", [])).split(",") if p]
        file = (
            "tailwindcss.js"
            if not plugins
            else (
                f"tailwindcss-with-{plugins[0]}.js"
                if len(plugins) == 1
                else "tailwindcss-with-all-plugins.js"
            )
        )
        version = path.strip("/") or None
        candidates = self._candidates(_TAILWIND_PLAY, None)
        if not candidates:
            return None
        pkg = candidates[0]
        if version and (package_dir(pkg, self.root) / version / file).is_file():
            file = f"{version}/{file}"
        asset = self._asset(_TAILWIND_PLAY, pkg.version, file)
        if asset is None:
            return None
        return Asset(asset.body, asset.content_type, asset.package, asset.version, asset.path, version)

    # -- Google Fonts -------------------------------------------------------------------------------
    def _google_fonts(self, path: str, query: dict[str, list[str]]) -> Asset | None:
        if path == "/icon":
            families = [(f, [(400, "normal")]) for f in query.get("family", [""])[0].split("|")]
        elif path in ("/css", "/css2"):
            families = []
            for spec in query.get("family", []):
                for one in spec.split("|") if path == "/css" else [spec]:
                    families.append(_parse_family(one, v2=path == "/css2"))
        else:
            return None
        display = query.get("display", ["swap"])[0]
        css: list[str] = []
        served: list[str] = []
        for family, styles in families:
            block = self._font_css(family, styles, display)
            if block:
                css.append(block)
                served.append(family)
        if not css:
            return None
        body = "\n".join(css).encode()
        return Asset(body, "text/css", "@fontsource/*", "", ",".join(served), None)

    def _font_css(self, family: str, styles: list[tuple[int, str]], display: str) -> str | None:
        name = "@fontsource/" + re.sub(r"[^a-z0-9]+", "-", family.lower()).strip("-")
        candidates = self._candidates(name, None)
        if not candidates:
            return None
        pkg = candidates[0]
        base = package_dir(pkg, self.root)
        available = sorted(
            {
                int(m.group(1))
                for f in base.glob("*.css")
                if (m := re.fullmatch(r"(\d+)(-italic)?\.css", f.name))
            }
        )
        if not available:
            available = [400]
        chunks = []
        for weight, style in styles:
            weights = [weight] if weight >= 0 else available  # -1 = a range: every weight in it
            for w in weights:
                if w not in available:
                    w = min(available, key=lambda a: abs(a - w))
                css_name = f"{w}-italic.css" if style == "italic" else f"{w}.css"
                css_file = base / css_name
                if not css_file.is_file():
                    css_file = base / "index.css"
                text = _read(str(css_file)).decode()
                text = text.replace("url(./files/", f"url(https://{ASSET_HOST}/npm/{pkg.key}/files/")
                chunks.append(re.sub(r"font-display:\s*\w+", f"font-display: {display}", text))
        if family.lower().startswith("material icons"):
            chunks.append(_MATERIAL_ICONS_CLASS.replace("FAMILY", family))
        return "\n".join(dict.fromkeys(chunks))


_MATERIAL_ICONS_CLASS = """.material-icons { font-family: 'FAMILY'; font-weight: normal; font-style: normal; font-size: 24px;
 line-height: 1; letter-spacing: normal; text-transform: none; display: inline-block; white-space: nowrap;
 word-wrap: normal; direction: ltr; -webkit-font-smoothing: antialiased; font-feature-settings: 'liga'; }"""


def _parse_family(spec: str, v2: bool) -> tuple[str, list[tuple[int, str]]]:
    """Parse one Google Fonts ``family=`` value into (family, [(weight, style)]); weight -1 = all.

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


@lru_cache(maxsize=512)
def _read(path: str) -> bytes:
    return Path(path).read_bytes()
