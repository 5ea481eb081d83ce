"""The ``render`` stage: HTML rows in the warm browser pool, plot rows in the plot sandbox.

Reads ``code``, ``kind`` and ``data_csv``; writes the render columns of the schema. HTML rows go
through :mod:`aesdata.render.html` (see its docstring for every column and status); plot rows go
through ``aesdata.render.plot_sandbox.PlotSandbox.run_many``. Rows without code, or of another kind,
get ``render_status = "skipped"``. Both kinds of a shard render at the same time.

Config keys: every field of :class:`~aesdata.render.browser_pool.RenderConfig` (viewport_width,
viewport_height, device_scale, max_height, timeouts, concurrency, browsers, recycle_every, ...) plus
``require_assets`` (default true: refuse to run with an incomplete asset store, because pages would
then render differently from the same pipeline elsewhere) and the asset policy
(:class:`~aesdata.render.assets.AssetPolicy`): ``assets_network`` resolve | offline,
``assets_fallback`` same-major | other-major | none, ``remote_images`` placeholder | block,
``sri_mismatch`` strip | reject, ``registry_timeout_s``.

Every version a page asks for is resolved once and pinned in the step's ``assets.lock.json`` (a
resumed or repeated build of the run makes the same choices); the pins go into the manifest's
summary. Before a shard renders, every CDN URL its pages name is resolved (and fetched) in threads, so
downloads never count against a page's load timeout. A row whose ``meta_json`` has ``files_root``
(a multi-file corpus page: ``read_corpus`` with ``code_file`` naming a folder) is served from it. The render visit also takes ``capture``
(what the judges need from the live page: HTMLHint, the DOM probe, axe-core contrast, the interactive
agent's episode; see :mod:`aesdata.judges.capture`); the judge step reads those captures and opens no page.
"""

from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import Field

from aesdata.errors import AesdataError
from aesdata.judges.capture import CAPTURE_COLUMNS, CaptureConfig, render_captured
from aesdata.render.asset_lock import lock_hash, missing_packages
from aesdata.render.assets import AssetPolicy, AssetStore, store_dir
from aesdata.render.browser_pool import BrowserPool, RenderConfig
from aesdata.render.cdn_urls import urls_in_html
from aesdata.render.html import files_root_of, render_many
from aesdata.render.npm_store import RunLock
from aesdata.render.settings import BrowserSettings
from aesdata.schema import COLUMN_GROUPS, sub_schema
from aesdata.stage import Resources, Stage, register

RUN_LOCK_NAME = "assets.lock.json"


class RenderStageConfig(BrowserSettings):
    """``render`` stage settings: the browser settings (:class:`BrowserSettings`), the asset policy and
    the live captures for the judges."""

    require_assets: bool = True
    assets_network: Literal["resolve", "offline"] = Field(
        "resolve", description="resolve: fetch exact versions from the npm registry; offline: store only"
    )
    assets_fallback: Literal["same-major", "other-major", "none"] = Field(
        "same-major", description="which stored version may stand in when the exact one cannot be had"
    )
    remote_images: Literal["placeholder", "block"] = Field(
        "placeholder", description="remote images: a neutral placeholder of the asked size, or blocked"
    )
    sri_mismatch: Literal["strip", "reject"] = Field(
        "strip",
        description="a file whose bytes differ from the page's integrity: strip the attribute, or reject",
    )
    registry_timeout_s: float = Field(8.0, gt=0, description="bound of each npm registry call")
    capture: CaptureConfig = Field(
        default_factory=CaptureConfig, description="live checks run on each rendered page for the judges"
    )

    def asset_policy(self) -> AssetPolicy:
        """The :class:`AssetPolicy` these settings describe."""
        return AssetPolicy(
            network=self.assets_network,
            fallback=self.assets_fallback,
            images=self.remote_images,
            sri=self.sri_mismatch,
            registry_timeout_s=self.registry_timeout_s,
        )


_POLICY_KEYS = {
    "require_assets",
    "assets_network",
    "assets_fallback",
    "remote_images",
    "sri_mismatch",
    "registry_timeout_s",
    "capture",
}


@register
class Render(Stage):
    """Render every candidate: screenshots, layout, errors and timings for the judges."""

    name: ClassVar[str] = "render"
    summary: ClassVar[str] = "render HTML in a sealed browser pool and plots in a sandbox"
    mode: ClassVar = "map"
    Config: ClassVar = RenderStageConfig
    # one worker per machine (per node on Ray): its browser pool and plot workers are sized to the CPUs it gets
    resources: ClassVar[Resources] = Resources(cpus=2.0, browser_slots=1, memory_gb=3.0, per_node=True)
    requires: ClassVar[tuple[str, ...]] = ("code", "kind", "data_csv")
    uses: ClassVar[tuple[str, ...]] = ("meta_json",)
    outputs: ClassVar[tuple[str, ...]] = (*COLUMN_GROUPS["render"], *CAPTURE_COLUMNS)
    # 2: plotly legend box and data points in layout_json; 3: page animation frames capped at 10/s;
    # 4: HTML screenshots encoded by render/png.py (same pixels, other bytes: exact-image dedup hashes bytes)
    # 5: exact CDN versions on demand, SRI decisions, placeholder images, render_assets / render_fidelity;
    #    pages on a paused page clock with seeded randomness, screenshots at a fixed page time;
    #    wall-clock guards give wall_timeout, retried alone; plots limited by CPU time, not wall time;
    #    the judges' live checks are captured in the render visit (captures columns)
    version: ClassVar[str] = "5"

    _pool: BrowserPool | None = None
    _sandbox: Any = None
    _store: AssetStore | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def asetup(self) -> None:
        """Check the asset store (when required); browsers and plot workers start on first use."""
        config: RenderStageConfig = self.config  # type: ignore[assignment]
        if config.require_assets and missing_packages():
            raise AesdataError(
                f"The local asset store at {store_dir()} is incomplete, so CDN libraries and fonts would not load.",
                "Run `aesdata assets fetch` once (it downloads the pinned packages from npm), "
                "or set `require_assets: false` on the render step.",
            )

    async def ateardown(self) -> None:
        """Close the browser pool and the plot sandbox."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._sandbox is not None and hasattr(self._sandbox, "close"):
            closed = self._sandbox.close()
            if inspect.isawaitable(closed):
                await closed
            self._sandbox = None

    async def _browser_pool(self) -> BrowserPool:
        if self._pool is None:
            settings = self.config.model_dump(exclude=_POLICY_KEYS)
            self._pool = BrowserPool(RenderConfig(**settings), store=self._asset_store())
            await self._pool.start()
        return self._pool

    def _asset_store(self) -> AssetStore:
        if self._store is None:
            config: RenderStageConfig = self.config  # type: ignore[assignment]
            lock = RunLock(self.context.stage_dir / RUN_LOCK_NAME)
            self._store = AssetStore(policy=config.asset_policy(), run_lock=lock)
        return self._store

    def _plot_sandbox(self) -> Any:
        if self._sandbox is None:
            try:
                from aesdata.render.plot_sandbox import PlotSandbox
            except ImportError as e:
                raise AesdataError(
                    f"Plot rows need aesdata.render.plot_sandbox, which could not be imported ({e}).",
                    "Install aesdata completely (pip install -e .) or drop plot rows from the input.",
                ) from e
            self._sandbox = PlotSandbox()
        return self._sandbox

    # -- work -----------------------------------------------------------------------------------
    async def aprocess(self, table: pa.Table) -> pa.Table:
        """Render one shard: returns the render columns, one row per input row, in order."""
        cols = [c for c in (*self.requires, *self.uses) if c in table.column_names]
        rows = table.select(cols).to_pylist()
        out: list[dict[str, Any]] = [{} for _ in rows]
        html_idx = [i for i, r in enumerate(rows) if r["kind"] == "html" and r["code"]]
        plot_idx = [i for i, r in enumerate(rows) if r["kind"] == "plot" and r["code"]]
        for i, r in enumerate(rows):
            if i not in html_idx and i not in plot_idx:
                reason = "no code" if not r["code"] else f"unknown kind {r['kind']!r}"
                out[i] = {"render_status": "skipped", "render_error": f"skipped: {reason}"}

        async def html_part() -> None:
            if html_idx:
                pool = await self._browser_pool()
                await prefetch(self._asset_store(), [rows[i]["code"] for i in html_idx])
                roots = [files_root_of(rows[i].get("meta_json")) for i in html_idx]
                capture = self.config.capture  # type: ignore[attr-defined]
                results = await render_many(
                    pool,
                    [rows[i]["code"] for i in html_idx],
                    roots,
                    lambda html, root, last_try: render_captured(pool, html, capture, root, last_try),
                )
                for i, res in zip(html_idx, results, strict=True):
                    out[i] = res

        async def plot_part() -> None:
            if plot_idx:
                sandbox = self._plot_sandbox()
                jobs = [{"code": rows[i]["code"], "data_csv": rows[i]["data_csv"]} for i in plot_idx]
                results = (
                    sandbox.run_many(jobs)
                    if _is_async(sandbox.run_many)
                    else await asyncio.to_thread(sandbox.run_many, jobs)
                )
                if inspect.isawaitable(results):
                    results = await results
                for i, res in zip(plot_idx, results, strict=True):
                    out[i] = res

        await asyncio.gather(html_part(), plot_part())
        cols = list(self.outputs)
        return pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in out], schema=sub_schema(cols))

    # -- reporting --------------------------------------------------------------------------------
    def failures(self, output: pa.Table) -> int:
        """Rows whose ``render_status`` is not ``ok`` (skipped rows included)."""
        return sum(1 for s in output.column("render_status").to_pylist() if s != "ok")

    def summarize(self, run_dir: Path) -> dict[str, Any] | None:
        """The run's asset pins (``name@spec`` -> version and integrity) for the manifest."""
        path = self.context.stage_dir / RUN_LOCK_NAME
        if not path.is_file():
            return None
        lock = RunLock(path)
        return {"assets_run_lock": {"digest": lock.digest(), "pins": lock.pins}}

    def fingerprint_extra(self) -> dict[str, Any]:
        """The asset lock: re-pinning a library re-renders."""
        return {"assets_lock": lock_hash()}

    def versions(self) -> dict[str, str]:
        """Chromium, Playwright, the asset lock, the asset packages present and the Debian font packages."""
        from aesdata.browser import find_browser
        from aesdata.fonts import installed_font_packages

        info = find_browser()
        return {
            "chromium": f"{info.label} ({info.origin})",
            "playwright": metadata.version("playwright"),
            "assets_lock": lock_hash(),
            "assets": ",".join(AssetStore().installed()),
            "fonts": ",".join(f"{k}={v}" for k, v in sorted(installed_font_packages().items())),
        }


async def prefetch(store: AssetStore, htmls: list[str], threads: int = 8) -> None:
    """Resolve (and fetch) every CDN URL written in ``htmls`` with ``store``, in ``threads`` threads."""
    urls = list(dict.fromkeys(u for h in htmls for u in urls_in_html(h)))
    if not urls:
        return
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(threads) as pool:
        await asyncio.gather(*(loop.run_in_executor(pool, store.lookup, u) for u in urls))


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn)
