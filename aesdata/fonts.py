"""The font packages pages render with (fonts change pixels, hashes and scores).

Read by the ``render`` step (for the manifest's versions) and by ``aesdata doctor``.
"""

from __future__ import annotations

import subprocess


def installed_font_packages() -> dict[str, str]:
    """Debian font packages that are installed, with versions (empty off Debian)."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\\n", "fonts-*"],
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "installed":
            found[parts[0]] = parts[1]
    return found
