"""The asset store's answers: CDN URL parsing, exact versions from a registry, pinning, SRI, failures.

Real parts: an npm registry double on loopback (packuments and real tarballs, integrity-checked),
the real content-addressed store on disk, the real Chromium for the page-level checks.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aesdata.render.assets import AssetPolicy, AssetStore, image_size, placeholder_image, sri_matches
from aesdata.render.browser_pool import RenderConfig
from aesdata.render.cdn_urls import NpmRef, parse_cdn_url, urls_in_html
from aesdata.render.html import render_html
from aesdata.render.npm_store import Registry, RunLock, resolve_spec
from tests.render_helpers import LoopPool


# ------------------------------------------------------------------------------ registry double
def _tarball(name: str, version: str) -> bytes:
    files = {
        "package/package.json": json.dumps({"name": name, "version": version, "main": "dist/lib.js"}),
        "package/dist/lib.js": f'window.testlib = "{version}"; document.documentElement.dataset.lib = "{version}";',
        "package/dist/lib.css": f"body {{ background: rgb(1, 2, {int(version[0])}); }}",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _sri(data: bytes, algo: str = "sha512") -> str:
    return f"{algo}-" + base64.b64encode(hashlib.new(algo, data).digest()).decode()


class RegistryDouble:
    """A loopback npm registry: ``publish`` packages; ``mode`` ok | error (HTTP 503) | stall (answers
    nothing for a minute); ``corrupt`` serves tarballs whose bytes differ from the integrity."""

    def __init__(self) -> None:
        self.packages: dict[str, dict[str, bytes]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.mode = "ok"
        self.corrupt = False
        self.hits = 0
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                double.hits += 1
                if double.mode == "stall":
                    time.sleep(60)
                    return
                if double.mode == "error":
                    self.send_response(503)
                    self.end_headers()
                    return
                path = self.path.lstrip("/").replace("%2f", "/").replace("%2F", "/")
                if path.startswith("tarballs/"):
                    name, version = path[len("tarballs/") :].rsplit("/", 1)
                    body = double.packages[name][version]
                    if double.corrupt:
                        body = body[:-1] + bytes([body[-1] ^ 1])
                    self._send(body, "application/octet-stream")
                elif path in double.packages:
                    doc = {
                        "name": path,
                        "dist-tags": double.tags.get(path, {}),
                        "versions": {
                            v: {
                                "dist": {
                                    "tarball": f"{double.url}/tarballs/{path}/{v}",
                                    "integrity": _sri(data),
                                }
                            }
                            for v, data in double.packages[path].items()
                        },
                    }
                    self._send(json.dumps(doc).encode(), "application/json")
                else:
                    self.send_response(404)
                    self.end_headers()

            def _send(self, body: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, name: str, version: str, latest: bool = True) -> bytes:
        data = _tarball(name, version)
        self.packages.setdefault(name, {})[version] = data
        if latest:
            self.tags.setdefault(name, {})["latest"] = version
        return data

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry() -> Iterator[RegistryDouble]:
    double = RegistryDouble()
    for v in ("1.0.0", "1.2.0", "2.0.0"):
        double.publish("testlib", v)
    yield double
    double.close()


def _store(tmp_path: Path, registry: RegistryDouble, timeout_s: float = 2.0, **policy: Any) -> AssetStore:
    return AssetStore(
        tmp_path / "store",
        policy=AssetPolicy(registry_timeout_s=timeout_s, **policy),
        run_lock=RunLock(tmp_path / "run-lock.json"),
        registry=Registry(registry.url, timeout_s=timeout_s),
    )


# ------------------------------------------------------------------------------ URL parsing
def test_cdn_urls_name_npm_package_version_and_file() -> None:
    refs = parse_cdn_url(
        "https://cdn.jsdelivr.net/combine/npm/jquery@3.6.0,npm/bootstrap@4.6.0/dist/js/bootstrap.min.js"
    )
    assert refs and [(r.name, r.spec, r.file) for r in refs.refs] == [
        ("jquery", "3.6.0", ""),
        ("bootstrap", "4.6.0", "dist/js/bootstrap.min.js"),
    ]
    cdnjs = parse_cdn_url(
        "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/4.7.0/css/font-awesome.min.css"
    )
    assert cdnjs and cdnjs.refs[0].name == "font-awesome"  # Font Awesome 4 lives under its old npm name
    fa5 = parse_cdn_url("//use.fontawesome.com/releases/v5.15.4/css/all.css")
    assert fa5 and (fa5.refs[0].name, fa5.refs[0].spec) == ("@fortawesome/fontawesome-free", "5.15.4")
    esm = parse_cdn_url("https://esm.sh/canvas-confetti@1.6.0")
    assert esm and esm.refs[0].esm and esm.refs[0].spec == "1.6.0"
    play = parse_cdn_url("https://cdn.tailwindcss.com/3.4.1?plugins=forms")
    assert play and play.tailwind_play == ("3.4.1", ("forms",))
    fonts = parse_cdn_url("https://fonts.googleapis.com/css?family=Roboto+Slab:300,700i|Muli&display=swap")
    assert (
        fonts
        and fonts.fonts
        and fonts.fonts.families
        == [
            ("Roboto Slab", [(300, "normal"), (700, "italic")]),
            ("Muli", [(400, "normal")]),
        ]
    )
    theme = parse_cdn_url("https://bootswatch.com/4/flatly/bootstrap.min.css")
    assert theme and theme.refs[0] == NpmRef("bootswatch", "4", "dist/flatly/bootstrap.min.css")
    old = parse_cdn_url("https://cdnjs.cloudflare.com/ajax/libs/modernizr/2.8.3/modernizr.min.js")
    assert old and (old.refs[0].name, old.refs[0].spec) == ("npm-modernizr", "2.8.3")  # npm's modernizr is 3+
    new = parse_cdn_url("https://cdnjs.cloudflare.com/ajax/libs/modernizr/3.6.0/modernizr.min.js")
    assert new and new.refs[0].name == "modernizr"
    kit = parse_cdn_url("https://kit.fontawesome.com/0123abcd.js")
    assert kit and kit.refs[0].stand_in  # an account's kit names no version: whatever answers stands in
    assert parse_cdn_url("https://example.com/app.js") is None
    html = '<script src="//cdn.jsdelivr.net/npm/a@1/x.js"></script><img src="https://example.com/i.png">'
    assert urls_in_html(html) == ["https://cdn.jsdelivr.net/npm/a@1/x.js"]


def test_resolve_spec_follows_node_semver_and_tags() -> None:
    versions = ["1.0.0", "1.2.0", "2.0.0", "3.0.0-beta.1"]
    assert resolve_spec("1", versions) == "1.2.0"
    assert resolve_spec("^1.1", versions) == "1.2.0"
    assert resolve_spec("", versions, {"latest": "1.0.0"}) == "1.0.0"
    assert resolve_spec("latest", versions) == "2.0.0"  # no tags (a store): the highest release
    assert resolve_spec("next", versions, {"latest": "2.0.0"}) is None


def test_placeholder_size_comes_from_the_url() -> None:
    assert image_size("https://images.unsplash.com/photo-1?w=400&h=300&fit=crop") == (400, 300)
    assert image_size("https://placehold.co/600x400") == (600, 400)
    assert image_size("https://picsum.photos/200/300") == (200, 300)
    assert image_size("https://via.placeholder.com/150") == (150, 150)
    assert image_size("https://example.com/photo.jpg") == (800, 600)
    body, ctype = placeholder_image("https://placehold.co/600x400")
    assert ctype == "image/svg+xml" and b'width="600" height="400"' in body
    assert placeholder_image("https://placehold.co/600x400") == (body, ctype)  # deterministic


# ------------------------------------------------------------------------------ versions and registry
def test_exact_version_is_fetched_integrity_checked_and_served(
    tmp_path: Path, registry: RegistryDouble
) -> None:
    store = _store(tmp_path, registry)
    answer = store.lookup("https://cdn.jsdelivr.net/npm/testlib@1.0.0/dist/lib.js")
    assert (
        answer
        and answer.answered_by == "exact"
        and answer.body == b'window.testlib = "1.0.0"; document.documentElement.dataset.lib = "1.0.0";'
    )
    link = tmp_path / "store" / "testlib@1.0.0"
    assert link.is_symlink() and ".content" in str(link.readlink())  # content-addressed
    entry = store.lookup("https://unpkg.com/testlib@1.0.0")  # no file: the package's entry point
    assert entry and entry.path == "dist/lib.js"


def test_a_range_resolves_once_and_stays_pinned(tmp_path: Path, registry: RegistryDouble) -> None:
    url = "https://cdn.jsdelivr.net/npm/testlib@1/dist/lib.js"
    first = _store(tmp_path, registry).lookup(url)
    assert first and first.version == "1.2.0" and first.parts[0]["requested"] == "1"
    registry.publish("testlib", "1.3.0")  # a new release after the run started
    again = _store(tmp_path, registry).lookup(url)  # the same run lock: the same choice
    assert again and again.version == "1.2.0" and again.body == first.body
    pins = json.loads((tmp_path / "run-lock.json").read_text())["pins"]
    assert pins["testlib@1"]["version"] == "1.2.0" and pins["testlib@1"]["integrity"].startswith("sha512-")
    fresh = AssetStore(tmp_path / "store", registry=Registry(registry.url, timeout_s=2)).lookup(url)
    assert fresh and fresh.version == "1.3.0"  # a new run resolves anew


def test_a_dist_tag_the_registry_does_not_list_comes_from_the_table(
    tmp_path: Path, registry: RegistryDouble
) -> None:
    registry.publish("aos", "2.3.4")
    registry.publish("aos", "3.0.0-beta.6", latest=False)  # a mirror listing only `latest`
    answer = _store(tmp_path, registry).lookup("https://unpkg.com/aos@next/dist/lib.js")
    assert answer and (answer.answered_by, answer.version) == ("exact", "3.0.0-beta.6")
    assert "table" in answer.parts[0]["note"]
    registry.publish("aos", "3.0.0-beta.7", latest=False)
    registry.tags["aos"]["next"] = "3.0.0-beta.7"  # the registry's own tag wins over the table
    fresh = _store(tmp_path / "fresh", registry).lookup("https://unpkg.com/aos@next/dist/lib.js")
    assert fresh and (fresh.answered_by, fresh.version) == ("exact", "3.0.0-beta.7")


def test_corrupt_tarball_is_refused_and_nothing_kept(tmp_path: Path, registry: RegistryDouble) -> None:
    registry.corrupt = True
    answer = _store(tmp_path, registry).lookup("https://cdn.jsdelivr.net/npm/testlib@2.0.0/dist/lib.js")
    assert answer and answer.body is None and answer.answered_by == "blocked"
    assert "integrity mismatch" in answer.parts[0]["note"]
    assert not (tmp_path / "store" / "testlib@2.0.0").exists()


@pytest.mark.parametrize("mode", ["error", "stall"])
def test_failing_registry_is_recorded_within_the_bound(
    tmp_path: Path, registry: RegistryDouble, mode: str
) -> None:
    good = _store(tmp_path, registry)
    assert good.lookup("https://cdn.jsdelivr.net/npm/testlib@1.0.0/dist/lib.js").answered_by == "exact"
    registry.mode = mode
    store = _store(tmp_path, registry, timeout_s=1.0)
    t0 = time.perf_counter()
    sub = store.lookup("https://cdn.jsdelivr.net/npm/testlib@1.2.0/dist/lib.js")
    other = store.lookup("https://cdn.jsdelivr.net/npm/otherlib@1/x.js")
    missing = [store.lookup(f"https://cdn.jsdelivr.net/npm/lib{i}@1/x.js") for i in range(5)]
    elapsed = time.perf_counter() - t0
    expected = "HTTP 503" if mode == "error" else "timeout after 1 s"
    assert (
        sub
        and sub.answered_by == "same-major"
        and sub.version == "1.0.0"
        and expected in sub.parts[0]["note"]
    )
    assert other and other.answered_by == "blocked" and expected in other.parts[0]["note"]
    assert all(a and a.answered_by == "blocked" and "marked down" in a.parts[0]["note"] for a in missing[1:])
    assert elapsed < 3 * 1.0 + 2  # three bounded calls, then the registry counts as down


def test_offline_with_a_cold_store_blocks_and_records_without_calling_the_registry(
    tmp_path: Path, registry: RegistryDouble
) -> None:
    store = _store(tmp_path, registry, network="offline")
    answer = store.lookup("https://cdn.jsdelivr.net/npm/testlib@1.0.0/dist/lib.js")
    fonts = store.lookup("https://fonts.googleapis.com/css2?family=Inter")
    assert answer and answer.body is None and "offline" in answer.parts[0]["note"]
    assert fonts and fonts.body is None and fonts.answered_by == "blocked"
    assert registry.hits == 0


def test_other_major_only_when_the_policy_opts_in(tmp_path: Path, registry: RegistryDouble) -> None:
    _store(tmp_path, registry).lookup("https://cdn.jsdelivr.net/npm/testlib@2.0.0/dist/lib.js")
    url = "https://cdn.jsdelivr.net/npm/testlib@1.0.0/dist/lib.js"
    same = _store(tmp_path, registry, network="offline").lookup(url)
    assert same and same.answered_by == "blocked"
    other = _store(tmp_path, registry, network="offline", fallback="other-major").lookup(url)
    assert other and other.answered_by == "other-major" and other.version == "2.0.0"


def test_sri_matches_the_strongest_listed_hash() -> None:
    body = b"console.log(1)"
    assert sri_matches(_sri(body, "sha384"), body)
    assert sri_matches(f"{_sri(b'other', 'sha256')} {_sri(body, 'sha512')}", body)
    assert not sri_matches(_sri(b"other", "sha512"), body)


# ------------------------------------------------------------------------------ in the page
@pytest.fixture(scope="module")
def module_registry() -> Iterator[RegistryDouble]:
    double = RegistryDouble()
    for v in ("1.0.0", "1.2.0"):
        double.publish("testlib", v)
    yield double
    double.close()


def _page(integrity: str, folder_css: bool = False) -> str:
    return f"""<!doctype html><html><head>
<script src="https://cdn.jsdelivr.net/npm/testlib@1.0.0/dist/lib.js" integrity="{integrity}" crossorigin="anonymous"></script>
<script src="https://cdn.example.org/unknown.js"></script>
{'<link rel="stylesheet" href="css/own.css">' if folder_css else ""}
</head><body><h1 id="t">Real page</h1><img src="https://images.unsplash.com/photo-9?w=300&h=200" id="img">
<script>document.getElementById('t').textContent = 'lib ' + (window.testlib || 'missing')</script></body></html>"""


def _render(
    tmp_path: Path, registry: RegistryDouble, html: str, root: Path | None = None, **policy: Any
) -> dict:
    store = _store(tmp_path, registry, **policy)
    lp = LoopPool(RenderConfig(concurrency=1, browsers=1), store)
    try:
        return lp.run(render_html(lp.pool, html, root))
    finally:
        lp.close()


def _by_url(row: dict, part: str) -> dict:
    return next(a for a in row["render_assets"] if part in a["url"])


def test_sri_pass_strip_and_reject_in_chromium(tmp_path: Path, module_registry: RegistryDouble) -> None:
    good = _sri(module_registry.packages["testlib"]["1.0.0"])  # the tarball's hash: not the file's
    lib_bytes = b'window.testlib = "1.0.0"; document.documentElement.dataset.lib = "1.0.0";'
    passing = _render(tmp_path, module_registry, _page(_sri(lib_bytes, "sha384")))
    lib = _by_url(passing, "testlib")
    assert (lib["answered_by"], lib["sri"], lib["version"]) == ("exact", "ok", "1.0.0")
    assert _by_url(passing, "unknown.js")["answered_by"] == "blocked"  # an unknown host: blocked, recorded
    img = _by_url(passing, "unsplash")
    assert img["answered_by"] == "placeholder" and img["kind"] == "image"
    assert passing["render_fidelity"] == "broken"  # a script from an unknown host did not load

    stripped = _render(tmp_path, module_registry, _page(good))
    assert _by_url(stripped, "testlib")["sri"] == "stripped"
    layout = json.loads(stripped["layout_json"])
    assert any(e["text"] == "lib 1.0.0" for e in layout["elements"])  # the script ran

    rejected = _render(tmp_path, module_registry, _page(good), sri="reject", images="block")
    lib = _by_url(rejected, "testlib")
    assert (lib["answered_by"], lib["sri"]) == ("sri-rejected", "rejected")
    assert any(e["text"] == "lib missing" for e in json.loads(rejected["layout_json"])["elements"])
    assert _by_url(rejected, "unsplash")["answered_by"] == "blocked"


def test_multi_file_page_is_served_from_its_folder(tmp_path: Path, module_registry: RegistryDouble) -> None:
    root = tmp_path / "page"
    (root / "css").mkdir(parents=True)
    (root / "css" / "own.css").write_text("h1 { color: rgb(200, 10, 20); }")
    row = _render(tmp_path, module_registry, _page(""), root)
    title = next(e for e in json.loads(row["layout_json"])["elements"] if e["id"] == "t")
    assert title["color"] == "rgb(0, 0, 0)"  # no stylesheet link in this page: default colour
    row = _render(tmp_path, module_registry, _page("", folder_css=True), root)
    title = next(e for e in json.loads(row["layout_json"])["elements"] if e["id"] == "t")
    assert title["color"] == "rgb(200, 10, 20)"
    assert not any("own.css" in a["url"] for a in row["render_assets"])  # the page's own file, not an asset
