"""``aesdata doctor``: what this machine has for aesdata, what is missing, and how to fix it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from dataclasses import dataclass

from aesdata.fonts import installed_font_packages


@dataclass
class Check:
    """One line of the doctor's table."""

    name: str
    ok: bool
    found: str
    fix: str = ""
    required: bool = True


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def check_browser() -> Check:
    """Chromium as the renderer will find it."""
    try:
        from aesdata.browser import find_browser
    except ImportError:
        path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        version = _cmd([path, "--version"]) if path else ""
        return Check(
            "Chromium",
            bool(path),
            version or "not found",
            "run `just setup` as root, or `apt-get install chromium`",
        )
    from aesdata.errors import AesdataError

    try:
        info = find_browser()
    except AesdataError as e:
        return Check("Chromium", False, "not found", e.hint or str(e))
    if info.flavour != "headless-shell":
        return Check(
            "Chromium",
            True,
            f"{info.label} ({info.path}, {info.origin})",
            "renders work; the headless shell renders ~2x cheaper: `apt-get install chromium-headless-shell` "
            "or `playwright install chromium-headless-shell`",
        )
    return Check("Chromium", True, f"{info.label} ({info.path}, {info.origin})")


FONT_PACKAGES = (
    "fonts-liberation",
    "fonts-dejavu-core",
    "fonts-noto-core",
    "fonts-noto-cjk",
    "fonts-noto-color-emoji",
)


def check_fonts() -> Check:
    """The font set pages are rendered with (fonts change pixels, hashes and scores)."""
    families = _cmd(["fc-list", ":", "family"])
    have = installed_font_packages()
    missing = [p for p in FONT_PACKAGES if p not in have]
    if have:
        found = f"{len(have)} font packages" + (f"; missing {', '.join(missing)}" if missing else "")
    else:
        found = (
            f"{len(set(families.splitlines()))} font families (not Debian: packages unknown)"
            if families
            else "fontconfig not found"
        )
    ok = not missing if have else bool(families)
    return Check("Fonts", ok, found, f"apt-get install {' '.join(missing or FONT_PACKAGES)}")


def check_sandbox() -> Check:
    """Isolation for untrusted plot scripts."""
    try:
        from aesdata.render.isolation import detect_isolation
    except ImportError:
        path = shutil.which("bwrap")
        return Check(
            "Plot sandbox",
            bool(path),
            f"bubblewrap at {path}" if path else "bubblewrap not found",
            "apt-get install bubblewrap (else only resource limits isolate plot scripts)",
        )
    info = detect_isolation()
    strong = info.method.startswith("bwrap")
    return Check(
        "Plot sandbox",
        strong,
        f"{info.method}: {info.details}",
        "apt-get install bubblewrap (else only resource limits isolate plot scripts)",
    )


def check_assets() -> Check:
    """The local store of CDN libraries that pages are rendered with offline."""
    try:
        from aesdata.render.asset_lock import store_status
    except ImportError:
        return Check("Asset store", False, "renderer not installed", "update aesdata", required=False)
    ok, found = store_status()
    return Check("Asset store", ok, found, "run `aesdata assets fetch` (or `just setup`)")


def check_registry() -> Check:
    """The npm registry that exact CDN versions are fetched from (``assets_network: resolve``)."""
    from aesdata.render.npm_store import Registry

    registry = Registry(timeout_s=5, max_failures=1)
    status = registry.ping()
    return Check(
        "npm registry",
        status is None,
        registry.url if status is None else f"{registry.url}: {status}",
        "set AESDATA_NPM_REGISTRY to a reachable mirror, or render with `assets_network: offline` "
        "after `aesdata assets prefetch`",
        required=False,
    )


def check_module(module: str, label: str, fix: str, required: bool = False) -> Check:
    """Whether an optional Python package imports, with its version."""
    if importlib.util.find_spec(module) is None:
        return Check(label, False, "not installed", fix, required)
    from importlib import metadata

    try:
        version = metadata.version(module.replace("_", "-"))
    except metadata.PackageNotFoundError:
        version = "installed"
    return Check(label, True, version, required=required)


def check_gpu() -> Check:
    """CUDA GPUs visible to torch (optional: generation / judging with vLLM, training)."""
    if importlib.util.find_spec("torch") is None:
        return Check("GPU", False, "torch not installed", "pip install 'aesdata[train]'", required=False)
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return Check("GPU", True, names, required=False)
    return Check(
        "GPU",
        False,
        f"none (torch {torch.__version__})",
        "optional: vLLM and fast training need a CUDA GPU",
        required=False,
    )


def run_checks() -> list[Check]:
    """Every check, in display order."""
    return [
        check_browser(),
        check_fonts(),
        check_assets(),
        check_registry(),
        check_sandbox(),
        check_module("torch", "torch (train extra)", "pip install -e '.[train]' -c .ci/constraints.txt"),
        check_module("trl", "trl (train extra)", "pip install -e '.[train]'"),
        check_module("ray", "ray (ray extra)", "pip install -e '.[ray]'"),
        check_module("vllm", "vllm (vllm extra, GPU)", "pip install -e '.[vllm]' in a GPU environment"),
        check_gpu(),
    ]
