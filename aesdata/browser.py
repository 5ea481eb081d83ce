"""Find a Chromium to render with, and the flags to launch it with.

Order of preference: the ``AESDATA_CHROMIUM`` environment variable (a path), Playwright's own
Chromium (``playwright install chromium``, under ``PLAYWRIGHT_BROWSERS_PATH`` or
``~/.cache/ms-playwright``), then a system Chromium / Chrome on ``PATH``. ``aesdata doctor`` and the
render stage both call :func:`find_browser`; the version found goes into the run manifest because
the browser build changes pixels.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aesdata.errors import AesdataError

#: Chromium features switched off. Chromium reads only the last ``--disable-features`` flag, so this
#: repeats Playwright's own list (playwright-core ``chromiumSwitches.ts``) and adds the omnibox-popup
#: WebUI: in new-headless Chromium (>= ~150) every browser context opens a window that preloads
#: ``chrome://omnibox-popup.top-chrome`` in its own renderer, ~600 ms of CPU per context for a popup
#: no headless page ever shows (measured: a trivial page 1300 -> 550 ms CPU end to end).
DISABLED_FEATURES: tuple[str, ...] = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
    "WebUIOmniboxFullPopup",
)
#: Flags measured on these machines (shared/reference/setup.md): headless, no sandbox (we run as
#: root in containers; isolation comes from a fresh context per sample and blocked network),
#: no background networking of the browser itself, no browser-UI renderers.
LAUNCH_ARGS: tuple[str, ...] = (
    "--disable-features=" + ",".join(DISABLED_FEATURES),
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--font-render-hinting=none",
    # repaint whole tiles: a partial re-raster of a small invalidation (the motion freeze restyling a
    # button) anti-aliased its edge pixels +-1 differently from a whole-tile raster, and which of the two
    # ran depended on timing (bench_determinism --corpus realpages: 1 page in 4 renders differed)
    "--disable-partial-raster",
    # animated images (GIF, APNG, WebP) show their first frame: their frames advance on the wall clock,
    # not the page clock, so a screenshot caught whichever frame the machine's speed reached
    # (bench_determinism --corpus realpages: a preloader GIF gave a different screenshot on 3 renders in 4).
    # Chromium keeps the last --blink-settings only, so this one repeats the hover / pointer settings
    # Playwright passes to headless browsers (without them ``(hover: hover)`` stops matching).
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4,"
    "imageAnimationPolicy=2",
)

#: The headless shell first: the same Blink and Skia without the browser UI, so a fresh context costs
#: about half the CPU of new-headless Chrome's (each of its contexts is a full browser window);
#: Playwright itself renders headless with it by default. Debian ships it as
#: ``chromium-headless-shell``.
_SYSTEM_NAMES = (
    "chromium-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)
_PLAYWRIGHT_GLOBS = (
    "chromium_headless_shell-*/chrome-linux*/headless_shell",
    "chromium-*/chrome-linux*/chrome",
    "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
)


@dataclass(frozen=True)
class BrowserInfo:
    """A Chromium found on this machine: ``path`` to launch, ``version`` (e.g. ``"156.0.8078.79"``),
    ``origin`` (``env`` | ``playwright`` | ``system``)."""

    path: str
    version: str
    origin: str

    @property
    def flavour(self) -> str:
        """``headless-shell`` (the UI-less build) or ``chrome`` (a full browser run headless)."""
        return "headless-shell" if "headless" in Path(self.path).name else "chrome"

    @property
    def label(self) -> str:
        """Version and flavour, e.g. ``"156.0.8078.79 headless-shell"``: what the run manifest records."""
        return f"{self.version} {self.flavour}"


def _version_of(path: str) -> str:
    """Return the dotted version ``path --version`` prints, or ``"unknown"``."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"(\d+\.\d+\.\d+\.\d+)", out)
    return match.group(1) if match else "unknown"


def _playwright_candidates() -> list[str]:
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
    found: list[str] = []
    for pattern in _PLAYWRIGHT_GLOBS:
        found.extend(sorted(glob.glob(os.path.join(root, pattern)), reverse=True))
    return found


@functools.lru_cache(maxsize=1)
def find_browser() -> BrowserInfo:
    """Return the Chromium to launch; raise :class:`AesdataError` with an install hint if none."""
    env_path = os.environ.get("AESDATA_CHROMIUM")
    if env_path:
        if not os.access(env_path, os.X_OK):
            raise AesdataError(
                f"AESDATA_CHROMIUM points at {env_path!r}, which is not an executable file.",
                "Unset it or point it at a Chromium binary.",
            )
        return BrowserInfo(env_path, _version_of(env_path), "env")
    for path in _playwright_candidates():
        if os.access(path, os.X_OK):
            return BrowserInfo(path, _version_of(path), "playwright")
    for name in _SYSTEM_NAMES:
        path = shutil.which(name)
        if path:
            return BrowserInfo(path, _version_of(path), "system")
    raise AesdataError(
        "No Chromium found (looked at AESDATA_CHROMIUM, Playwright's browsers and chromium/google-chrome on PATH).",
        "Install one: `playwright install chromium`, or on Debian/Ubuntu `apt-get install chromium-headless-shell chromium "
        "fonts-liberation fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji`.",
    )
