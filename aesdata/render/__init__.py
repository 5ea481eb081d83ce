"""Rendering: turn candidate code into pixels and measurements, offline and reproducibly.

- :mod:`aesdata.render.browser_pool`: warm Chromium pool, a fresh sealed context per sample
  (``BrowserPool``, ``RenderConfig``, ``BrowserPool.open`` for a live page).
- :mod:`aesdata.render.network`: the network seal of one page (``NetworkGuard``: what answers each
  request, the SRI decisions, the record of every answer and refusal).
- :mod:`aesdata.render.html`: one HTML sample -> the schema's render columns (``render_html``).
- :mod:`aesdata.render.cdn_urls`: a CDN URL -> the npm package, version spec and file it names.
- :mod:`aesdata.render.npm_store`: the npm registry client, the content-addressed store, the run lock.
- :mod:`aesdata.render.assets`: the store's answers to a page's requests (exact versions, fallbacks,
  Google Fonts CSS, SRI checks, image placeholders), and the repo lock set-up fills.
- :mod:`aesdata.render.fidelity`: ``render_fidelity`` (faithful | degraded | broken) from ``render_assets``.
- :mod:`aesdata.render.prefetch`: ``aesdata assets prefetch`` (fill the store for offline renders).
- :mod:`aesdata.render.plot_sandbox`: plotting scripts in sandboxed warm workers.
- :mod:`aesdata.render.plot_worker`: the worker process (fork server, limits, uid drop, protocol);
  :mod:`aesdata.render.plot_script`: what runs in its children (one script, its figures, plotly PNGs);
  :mod:`aesdata.render.plot_layout`: the figures' layout summaries for the judges.

Submodules are imported explicitly (this package imports nothing, so that plot-only or doctor
code does not load Playwright).
"""
