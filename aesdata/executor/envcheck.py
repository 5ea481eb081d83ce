"""Same environment everywhere: what a node has for a build, compared with the driver's machine.

``node_report`` runs on each node (a small Ray task pinned to it) and on the driver; ``compare`` lists
what differs, node by node, and ``raise_if_different`` turns that into one paragraph. Always compared:
Python (major.minor), aesdata and the libraries that write or score rows (``environment_versions``).
For pipelines with a browser stage (``Resources.browser_slots > 0``: render, judge) also: the
Chromium the renderer finds (version and flavour), the Debian font packages, the plot sandbox's
isolation method (bubblewrap) and the asset store (complete, and its lock). The driver's machine is
the reference: its versions are what the run manifest records.
"""

from __future__ import annotations

import platform

from aesdata.errors import AesdataError
from aesdata.executor.manifest import environment_versions

#: what each key of a report means, for messages
LABELS = {
    "python": "Python",
    "chromium": "Chromium",
    "fonts": "font packages",
    "sandbox": "plot sandbox",
    "assets": "asset store",
}
#: marks a missing thing in a report value
MISSING = "missing"


def node_report(browser: bool) -> dict[str, str]:
    """This machine's versions (``browser``: also Chromium, fonts, sandbox and asset store)."""
    out = {k: v for k, v in environment_versions().items() if k not in ("platform", "python")}
    out["python"] = ".".join(platform.python_version_tuple()[:2])
    if browser:
        out.update(_browser_report())
    return out


def _browser_report() -> dict[str, str]:
    from aesdata.browser import find_browser
    from aesdata.fonts import installed_font_packages
    from aesdata.render.assets import lock_hash, missing_packages, store_dir
    from aesdata.render.isolation import detect_isolation

    out: dict[str, str] = {}
    try:
        out["chromium"] = find_browser().label
    except AesdataError as e:
        out["chromium"] = f"{MISSING} ({e})"
    out["fonts"] = ",".join(f"{k}={v}" for k, v in sorted(installed_font_packages().items())) or MISSING
    out["sandbox"] = detect_isolation().method
    missing = missing_packages()
    out["assets"] = (
        f"{MISSING} ({len(missing)} packages not in {store_dir()})" if missing else f"lock {lock_hash()}"
    )
    return out


def compare(driver: dict[str, str], nodes: dict[str, dict[str, str]]) -> list[str]:
    """One line per difference: ``node: what it has`` vs the driver's value (``nodes``: label -> report)."""
    lines = []
    for label, report in nodes.items():
        for key, want in driver.items():
            have = report.get(key, MISSING)
            if have != want:
                name = LABELS.get(key, key)
                lines.append(f"node {label}: {name} {have} (the driver has {want})")
    return lines


def raise_if_different(driver: dict[str, str], nodes: dict[str, dict[str, str]]) -> None:
    """Raise ``AesdataError`` listing every difference between the nodes and the driver."""
    lines = compare(driver, nodes)
    if not lines:
        return
    shown = "; ".join(lines[:6]) + (f"; and {len(lines) - 6} more" if len(lines) > 6 else "")
    raise AesdataError(
        f"The Ray nodes do not all have the environment this build needs: {shown}.",
        "Run every node from the same image or virtual environment (README: Running on a Ray cluster); "
        "`aesdata doctor` on a node shows what it lacks and how to add it.",
    )
