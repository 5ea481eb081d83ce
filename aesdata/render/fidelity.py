"""How faithful a render is to the page its author meant, from what answered each requested asset.

:func:`render_fidelity` turns a row's ``render_assets`` items into one word:

- ``broken``: a script or stylesheet was not served (``blocked``) or Chromium refused it
  (``sri-rejected``): the page ran without a library or styles it needs.
- ``degraded``: everything needed ran, but something differs from the page online: a substitute
  version (``same-major``, ``other-major``), or a font, image or other file blocked.
- ``faithful``: every script, stylesheet and font was answered with the version asked for; remote
  images may be neutral placeholders (they keep the layout; the photo is not part of the code).

A file of the sample's own origin that does not exist (``note`` "not in the sample's folder") is
listed but does not count: it is missing online too, so the render is as faithful as the page.

:func:`sri_rejections` reads Chromium's console messages for files refused by an ``integrity`` check
that the document did not show (elements a script created).
"""

from __future__ import annotations

import re
from typing import Any

SAMPLE_ORIGIN = "https://sample.aesdata.invalid/"
_NEEDED = ("script", "stylesheet")
_SRI_MESSAGE = re.compile(
    r"Failed to find a valid digest in the 'integrity' attribute for resource '([^']+)'"
)


def render_fidelity(assets: list[dict[str, Any]]) -> str:
    """``faithful`` | ``degraded`` | ``broken`` for one row's ``render_assets`` items (see above)."""
    word = "faithful"
    for a in assets:
        if str(a.get("url", "")).startswith(SAMPLE_ORIGIN):
            continue
        answered = a.get("answered_by")
        if answered in ("blocked", "sri-rejected") and a.get("kind") in _NEEDED:
            return "broken"
        if answered in ("same-major", "other-major", "blocked", "sri-rejected"):
            word = "degraded"
    return word


def sri_rejections(console: list[dict[str, Any]]) -> set[str]:
    """URLs Chromium refused for a failed ``integrity`` check, from the console records."""
    return {m.group(1) for c in console if (m := _SRI_MESSAGE.search(c.get("text", "")))}
