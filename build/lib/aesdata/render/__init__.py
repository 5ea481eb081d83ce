"""Rendering: turn candidate code into pixels and measurements, offline and reproducibly.

- :mod:`aesdata.render.browser_pool`: warm Chromium pool, a fresh sealed context per sample
  (``BrowserPool``, ``RenderConfig``, ``BrowserPool.open`` for a live page).
- :mod:`aesdata.render.html`: one HTML sample -> the schema's render columns (``render_html``).
- :mod:`aesdata.render.assets`: the pinned local CDN/font store and its URL mapper.
- :mod:`aesdata.render.plot_sandbox`: plotting scripts in sandboxed warm workers.

Submodules are imported explicitly (this package imports nothing, so that plot-only or doctor
code does not load Playwright).
"""
