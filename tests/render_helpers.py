"""Shared set-up of the render tests: a filled asset store and a browser pool on its own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from aesdata.browser import BrowserInfo
from aesdata.render.assets import AssetStore, fill_store
from aesdata.render.browser_pool import BrowserPool, RenderConfig

T = TypeVar("T")


def filled_store() -> AssetStore:
    """The real asset store, filled from npm on first use (pinned, integrity-checked)."""
    fill_store(log=lambda _: None)
    return AssetStore()


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
