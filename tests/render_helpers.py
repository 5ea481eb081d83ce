"""Shared set-up of the render tests: a filled asset store and a browser pool on its own event loop."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Coroutine
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from aesdata.browser import BrowserInfo
from aesdata.render.asset_lock import fill_store, load_lock, package_dir
from aesdata.render.assets import AssetPolicy, AssetStore, store_dir
from aesdata.render.browser_pool import BrowserPool, RenderConfig

T = TypeVar("T")


@cache
def lock_only_root() -> Path:
    """A store folder holding exactly the repo lock's packages (links into the real store, filled from
    npm on first use), so what a test sees does not depend on what else the shared store holds."""
    fill_store(log=lambda _: None)
    root = Path(tempfile.mkdtemp(prefix="aesdata-lockstore-"))
    for pkg in load_lock():
        package_dir(pkg, root).symlink_to(package_dir(pkg, store_dir()).resolve())
    return root


def filled_store(**policy: Any) -> AssetStore:
    """An ``offline`` asset store of the repo lock's packages (see :func:`lock_only_root`); ``policy``
    overrides :class:`AssetPolicy` fields."""
    return AssetStore(lock_only_root(), policy=AssetPolicy(**{"network": "offline", **policy}))


class LoopPool:
    """A started :class:`BrowserPool` plus the event loop it lives on; ``run`` drives a coroutine."""

    def __init__(
        self, config: RenderConfig, store: AssetStore | None, browser: BrowserInfo | None = None
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = BrowserPool(config, store=store, browser=browser)
        self.run(self.pool.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.pool.close())
        self.loop.close()
