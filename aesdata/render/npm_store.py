"""npm packages on demand: the registry client, the content-addressed store and the run's version lock.

- :class:`Registry` talks to the npm registry over HTTPS (``$AESDATA_NPM_REGISTRY``, default
  ``https://registry.npmjs.org``): the abbreviated packument of a package (versions, dist-tags, each
  version's tarball URL and ``dist.integrity``) and tarballs. Every call has a total deadline, so a
  registry that is slow, stalls or is down gives a :class:`RegistryError` with a short status within
  the bound, never a hang; after ``max_failures`` failures in a row it is treated as down for the rest
  of the process (each later call fails at once with the same status).
- :class:`PackageStore` is the folder ``$AESDATA_ASSETS`` (default ``~/.cache/aesdata/assets``). A
  tarball is accepted only when its sha512 equals the registry's ``integrity``; it is unpacked under
  ``.content/<sha512 hex>`` (content-addressed) and ``<name@version>`` (``/`` written ``__``) points
  at it, with an ``.aesdata-integrity`` marker. Folders of the same shape written by earlier versions
  of aesdata (plain folders with the marker) are read as they are.
- :class:`RunLock` pins every version spec a run met (``chart.js@3`` -> ``3.9.1``, ``d3@latest`` ->
  ``7.9.0``) with the integrity of what was served, in a JSON file in the run, so re-rendering the run
  makes the same choices even after new releases.
- :func:`resolve_spec` picks the version a spec means among published (or stored) versions, with
  node-semver's rules (the rules the CDNs apply). :data:`KNOWN_DIST_TAGS` names the version of a few
  dist-tags that a registry may not list (a mirror that keeps only ``latest``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import nodesemver

MARKER = ".aesdata-integrity"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
_ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
_MAX_TARBALL = 300 * 1024 * 1024


def store_dir() -> Path:
    """The store directory: ``$AESDATA_ASSETS`` or ``~/.cache/aesdata/assets``."""
    return Path(os.environ.get("AESDATA_ASSETS") or Path.home() / ".cache" / "aesdata" / "assets")


def registry_url() -> str:
    """The npm registry aesdata fetches from: ``$AESDATA_NPM_REGISTRY`` or the public registry."""
    return (os.environ.get("AESDATA_NPM_REGISTRY") or DEFAULT_REGISTRY).rstrip("/")


def sri_sha512(data: bytes) -> str:
    """The SRI string (``sha512-<base64>``) of ``data``, the form npm's ``dist.integrity`` uses."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class RegistryError(Exception):
    """The registry did not answer usefully; ``str(e)`` is a short status such as
    ``"registry: timeout after 8 s"``, ``"registry: HTTP 503"``, ``"registry: no such package"``."""


class Registry:
    """A bounded npm registry client. ``url``: registry base; ``timeout_s``: deadline of each call
    (connect, stall and slow transfer included); ``max_failures``: failures in a row after which the
    registry counts as down. Thread-safe."""

    def __init__(self, url: str | None = None, timeout_s: float = 8.0, max_failures: int = 3) -> None:
        self.url = (url or registry_url()).rstrip("/")
        self.timeout_s = timeout_s
        self.max_failures = max_failures
        self._failures = 0
        self._down: str | None = None
        self._packuments: dict[str, dict[str, Any] | RegistryError] = {}
        self._lock = threading.Lock()
        self.calls = 0

    @property
    def down(self) -> str | None:
        """The status that made the registry count as down, else ``None``."""
        return self._down

    def _get(self, url: str, accept: str | None = None, limit: int = _MAX_TARBALL) -> bytes:
        if self._down:
            raise RegistryError(self._down)
        self.calls += 1
        deadline = time.monotonic() + self.timeout_s
        try:
            with httpx.Client(timeout=httpx.Timeout(self.timeout_s), follow_redirects=True) as client:
                headers = {"accept": accept} if accept else {}
                with client.stream("GET", url, headers=headers) as resp:
                    if resp.status_code == 404:
                        self._ok()
                        raise RegistryError("registry: no such package or version")
                    if resp.status_code != 200:
                        raise self._failed(f"registry: HTTP {resp.status_code}")
                    chunks, size = [], 0
                    for chunk in resp.iter_bytes():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > limit:
                            raise RegistryError(f"registry: answer larger than {limit >> 20} MiB")
                        if time.monotonic() > deadline:
                            raise self._failed(f"registry: timeout after {self.timeout_s:g} s")
            self._ok()
            return b"".join(chunks)
        except httpx.TimeoutException:
            raise self._failed(f"registry: timeout after {self.timeout_s:g} s") from None
        except httpx.HTTPError as e:
            raise self._failed(f"registry: unreachable ({type(e).__name__})") from None

    def _ok(self) -> None:
        with self._lock:
            self._failures = 0

    def _failed(self, status: str) -> RegistryError:
        with self._lock:
            self._failures += 1
            if self._failures >= self.max_failures:
                self._down = f"{status} (registry marked down after {self._failures} failures)"
        return RegistryError(status)

    def packument(self, name: str) -> dict[str, Any]:
        """The abbreviated packument of ``name`` (``versions``, ``dist-tags``), cached per process."""
        with self._lock:
            cached = self._packuments.get(name)
        if isinstance(cached, RegistryError):
            raise cached
        if cached is not None:
            return cached
        try:
            doc = json.loads(self._get(f"{self.url}/{quote(name, safe='@')}", _ABBREVIATED, 64 << 20))
        except RegistryError as e:
            if "no such package" in str(e):
                with self._lock:
                    self._packuments[name] = e
            raise
        except ValueError:
            raise RegistryError("registry: answer is not JSON") from None
        with self._lock:
            self._packuments[name] = doc
        return doc

    def ping(self) -> str | None:
        """``None`` when the registry answers ``/-/ping`` within the bound, else a short status."""
        try:
            self._get(f"{self.url}/-/ping", limit=1 << 16)
            return None
        except RegistryError as e:
            return str(e)

    def tarball(self, url: str) -> bytes:
        """The bytes of the tarball at ``url``."""
        return self._get(url)


#: Dist-tags pages use that a registry may not list, package -> {tag: version}. Registry mirrors may
#: keep only ``latest`` (the one this project is developed against lists no other tag for any package,
#: vue's and react's included), so a CDN URL with ``@next`` finds nothing there although unpkg and
#: jsDelivr answer it from npmjs.com. The registry's own tags always win; each entry says why the
#: tag can only mean that version.
KNOWN_DIST_TAGS: dict[str, dict[str, str]] = {
    # michalsnik/aos: the default branch `next` ("This is README for aos@next", its CDN snippet
    # unpkg.com/aos@next/dist/aos.js) ends at the 3.0.0-beta.6 release commit (2018-10-03), the last
    # version of aos ever published, so `next` has named 3.0.0-beta.6 since
    "aos": {"next": "3.0.0-beta.6"},
}


def resolve_spec(spec: str, versions: list[str], dist_tags: dict[str, str] | None = None) -> str | None:
    """The version ``spec`` names among ``versions``: a dist-tag (``""`` = ``latest``), the exact
    version, or the highest match of a node-semver range (``3``, ``3.2``, ``^3.1``); ``None`` if none.

    Without dist-tags (a store, offline), ``latest`` is the highest release version."""
    tags = dist_tags or {}
    spec = spec.strip().lstrip("v") if re.match(r"v\d", spec.strip()) else spec.strip()
    if spec in ("", "latest") and "latest" in tags:
        return tags["latest"]
    if spec in tags:
        return tags[spec]
    if spec in versions:
        return spec
    try:
        return nodesemver.max_satisfying(versions, "*" if spec in ("", "latest") else spec, loose=True)
    except Exception:  # noqa: BLE001 - node-semver raises ValueError/TypeError on garbage ranges
        return None


def is_exact(spec: str) -> bool:
    """True when ``spec`` is one full version (``1.2.3``, ``1.2.3-beta.1``)."""
    return nodesemver.valid(spec.lstrip("v"), loose=True) is not None


def major_of(version: str) -> tuple[int, ...]:
    """The compatibility family of ``version``: (major,), or (0, minor) for 0.x versions."""
    nums = tuple(int(n) for n in re.findall(r"\d+", version)[:3]) or (0,)
    return nums[:2] if nums[0] == 0 else nums[:1]


def key_dir(name: str, version: str) -> str:
    """The store folder name of ``name@version`` (``/`` written ``__``)."""
    return f"{name}@{version}".replace("/", "__")


class PackageStore:
    """The on-disk store at ``root`` (see the module docstring). Thread-safe installs."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or store_dir()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, name: str, version: str) -> Path | None:
        """The folder of ``name@version`` when present and marked, else ``None``."""
        d = self.root / key_dir(name, version)
        return d if (d / MARKER).is_file() else None

    def integrity(self, name: str, version: str) -> str | None:
        """The registry integrity recorded for ``name@version`` in the store, else ``None``."""
        d = self.path(name, version)
        return (d / MARKER).read_text().strip() if d else None

    def versions(self, name: str) -> list[str]:
        """Versions of ``name`` present in the store."""
        prefix = key_dir(name, "")
        if not self.root.is_dir():
            return []
        return sorted(
            p.name[len(prefix) :]
            for p in self.root.iterdir()
            if p.name.startswith(prefix) and (p / MARKER).is_file()
        )

    def lock_for(self, key: str) -> threading.Lock:
        """A lock per package key, so one package is fetched once however many pages ask at once."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def install(self, name: str, version: str, integrity: str, data: bytes) -> Path:
        """Check ``data`` (a tarball) against ``integrity`` and unpack it; return the package folder.

        Raises ``ValueError`` on an integrity mismatch (nothing is kept)."""
        algo = integrity.split("-", 1)[0]
        digest = base64.b64encode(hashlib.new(algo, data).digest()).decode()
        if f"{algo}-{digest}" != integrity:
            raise ValueError(f"integrity mismatch for {name}@{version}: registry says {integrity[:24]}...")
        hexdigest = hashlib.sha512(data).hexdigest()[:48]
        content = self.root / ".content" / hexdigest
        self.root.mkdir(parents=True, exist_ok=True)
        if not (content / MARKER).is_file():
            content.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=content.parent) as tmp:
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    tar.extractall(tmp, filter="data")
                inner = next(Path(tmp).iterdir())  # npm tarballs hold one top folder, usually "package/"
                (inner / MARKER).write_text(integrity + "\n")
                try:
                    inner.rename(content)
                except OSError:  # another process unpacked the same tarball meanwhile
                    if not (content / MARKER).is_file():
                        raise
        link = self.root / key_dir(name, version)
        if link.is_symlink() or link.exists():
            if link.is_symlink() or link.is_file():
                link.unlink()
            else:
                shutil.rmtree(link)
        tmp_link = link.with_name(link.name + f".tmp{os.getpid()}")
        tmp_link.symlink_to(Path(".content") / hexdigest)
        tmp_link.rename(link)
        return link


class RunLock:
    """The versions one run chose: ``{"name@spec": {"version", "integrity"}}``, saved to ``path``
    (JSON) after every new pin when ``path`` is given. Thread-safe."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.pins: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        if path is not None and path.is_file():
            self.pins = json.loads(path.read_text()).get("pins", {})

    def get(self, name: str, spec: str) -> str | None:
        """The pinned version of ``name@spec``, else ``None``."""
        pin = self.pins.get(f"{name}@{spec}")
        return pin["version"] if pin else None

    def put(self, name: str, spec: str, version: str, integrity: str) -> None:
        """Pin ``name@spec`` to ``version`` (first pin wins) and save."""
        key = f"{name}@{spec}"
        with self._lock:
            if key in self.pins:
                return
            self.pins[key] = {"version": version, "integrity": integrity}
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"lock_version": 1, "pins": self.pins}, indent=1, sort_keys=True))
                tmp.replace(self.path)

    def digest(self) -> str:
        """A short sha256 of the pins (identical choices give identical digests)."""
        with self._lock:
            text = json.dumps(self.pins, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
