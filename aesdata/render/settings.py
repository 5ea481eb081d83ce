"""Browser settings in the one shape the ``render`` and ``judge`` steps share.

``BrowserSettings`` is the HTML renderer's ``RenderConfig`` (viewport, device scale, timeouts, pool
size...) with its tuning keys declared: browser processes, pages in flight and the recycle period change
speed, never pixels, so they are left out of fingerprints. The ``render`` step takes these keys at its
top level; the ``judge`` step takes them under ``render:`` (it reopens pages in a pool of its own).
"""

from __future__ import annotations

from aesdata.render.browser_pool import RenderConfig


class BrowserSettings(RenderConfig):
    """``RenderConfig`` with its tuning keys declared (see module docstring)."""

    tuning_keys = ("concurrency", "browsers", "recycle_every")
