"""The repo's asset lock: the npm packages set-up puts in the asset store ahead of time.

``assets.lock.json`` (next to this module) pins, per package, the exact version and the registry's
sha512 integrity: the in-page judge scripts (HTMLHint, axe-core) and the libraries and fonts most
pages use. :func:`fill_store` (``aesdata assets fetch``) downloads what the store lacks, checked
against the lock; :func:`store_status` says how complete the store is (``aesdata assets status``,
``aesdata doctor``); :func:`missing_packages` and :func:`lock_hash` serve the render step's checks and
manifest. Answering a page's requests from the store is :mod:`aesdata.render.assets`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aesdata.errors import AesdataError
from aesdata.render.npm_store import PackageStore, Registry, RegistryError, store_dir

LOCK_PATH = Path(__file__).with_name("assets.lock.json")


@dataclass(frozen=True)
class LockedPackage:
    """One pre-pinned npm package: ``name``, ``version``, sha512 ``integrity`` (SRI form), ``note``."""

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


def package_dir(pkg: LockedPackage, root: Path) -> Path:
    """Folder of ``pkg`` inside the store ``root``."""
    return root / pkg.key.replace("/", "__")


def missing_packages(root: Path | None = None, lock_path: Path = LOCK_PATH) -> list[LockedPackage]:
    """Return the locked packages not (or not verifiably) present in the store."""
    store = PackageStore(root or store_dir())
    return [p for p in load_lock(lock_path) if store.integrity(p.name, p.version) != p.integrity]


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
    root: Path | None = None,
    lock_path: Path = LOCK_PATH,
    log: Callable[[str], None] = print,
    registry: Registry | None = None,
) -> dict[str, int]:
    """Download, integrity-check and unpack every locked package missing from the store.

    The tarball must match the lock's sha512; a mismatch raises :class:`AesdataError` and nothing of
    it is kept. Returns counts ``{"present": n, "fetched": m}``.
    """
    store = PackageStore(root or store_dir())
    store.root.mkdir(parents=True, exist_ok=True)
    registry = registry or Registry(timeout_s=120)
    todo = missing_packages(store.root, lock_path)
    total = len(load_lock(lock_path))
    for pkg in todo:
        try:
            doc = registry.packument(pkg.name)
            dist = doc["versions"][pkg.version]["dist"]
            data = registry.tarball(dist["tarball"])
        except (RegistryError, KeyError) as e:
            raise AesdataError(
                f"Could not download {pkg.key} from {registry.url}: {e}.",
                "Check that the npm registry is reachable (or set AESDATA_NPM_REGISTRY to a mirror).",
            ) from None
        try:
            store.install(pkg.name, pkg.version, pkg.integrity, data)
        except ValueError:
            raise AesdataError(
                f"Integrity mismatch for {pkg.key}: the lock says {pkg.integrity[:24]}..., the registry "
                f"gave {dist.get('integrity', '?')[:24]}...",
                "The package was republished or the download is corrupt; re-pin it deliberately.",
            ) from None
        log(f"asset store: {pkg.key} ok")
    return {"present": total - len(todo), "fetched": len(todo)}
