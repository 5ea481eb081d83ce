"""The request cache: expensive model calls (LLM generation, VLM judging) and design verdicts are paid once.

A call is keyed by the sha256 of a canonical JSON of its key parts (model, sampling parameters,
messages or prompt, image hashes, and any extra part such as the candidate index) and its JSON
response is stored in one SQLite file in WAL mode, committed as soon as the response arrives.
A build that is killed, or rerun after a downstream tweak, replays every finished call from the
file instead of paying for it again. Failed calls are not stored, so a rerun retries them.

One file may be shared by several worker processes (WAL + a busy timeout) and by several
coroutines of one process (a lock around the connection; the calls are sub-millisecond).
Written by hand after datatrove's ``RequestCache`` (``pipeline/inference/checkpointing.py``):
it keeps the idea (sqlite, payload hash, replay) with the stdlib ``sqlite3`` and no writer task.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aesdata.errors import AesdataError


def canonical_json(value: Any) -> str:
    """Return ``value`` as JSON with sorted keys and no whitespace (the same bytes for equal values)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def cache_key(key_parts: dict[str, Any]) -> str:
    """Return the sha256 hex digest of the canonical JSON of ``key_parts``."""
    return hashlib.sha256(canonical_json(key_parts).encode("utf-8")).hexdigest()


def hash_bytes(data: bytes) -> str:
    """Return the sha256 hex digest of ``data`` (how images enter a key: by hash, never by bytes)."""
    return hashlib.sha256(data).hexdigest()


class RequestCache:
    """A SQLite file mapping request keys to JSON responses.

    ``get(key)`` returns the stored response or ``None``; ``put(key, response)`` stores it
    (committed at once). ``cached_call(key_parts, coro_factory)`` is the usual entry point.
    ``hits`` and ``misses`` count lookups made through this object.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, check_same_thread=False, isolation_level=None
            )
            self._init_schema()
        except (sqlite3.Error, OSError) as e:
            raise AesdataError(
                f"Cannot open the request cache {self.path}: {e}.",
                "Check that the folder is writable, or point settings.request_cache at another file.",
            ) from None

    def _init_schema(self) -> None:
        """Switch to WAL and create the table; retried while another process does the same
        (switching the journal mode can report 'locked' at once instead of waiting)."""
        deadline = time.monotonic() + 30.0
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS requests ("
                    " key TEXT PRIMARY KEY, response TEXT NOT NULL, key_parts TEXT NOT NULL, created REAL NOT NULL)"
                )
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the response stored under ``key``, or ``None``; counts a hit or a miss."""
        with self._lock:
            row = self._conn.execute("SELECT response FROM requests WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, response: dict[str, Any], key_parts: dict[str, Any] | None = None) -> None:
        """Store ``response`` under ``key`` (replacing any earlier one) and commit."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO requests (key, response, key_parts, created) VALUES (?, ?, ?, ?)",
                (key, canonical_json(response), canonical_json(key_parts or {}), time.time()),
            )

    async def cached_call(
        self,
        key_parts: dict[str, Any],
        coro_factory: Callable[[], Awaitable[dict[str, Any]]],
        *,
        store: Callable[[dict[str, Any]], bool] = lambda _r: True,
    ) -> tuple[dict[str, Any], bool]:
        """Return ``(response, from_cache)``: the stored response for ``key_parts``, else ``await coro_factory()``.

        The fresh response is stored when ``store(response)`` is true (use it to keep failures out).
        """
        key = cache_key(key_parts)
        hit = self.get(key)
        if hit is not None:
            return hit, True
        response = await coro_factory()
        if store(response):
            await asyncio.to_thread(self.put, key, response, key_parts)
        return response, False

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def stats(self) -> dict[str, int]:
        """Return ``{"hits", "misses", "entries"}``."""
        return {"hits": self.hits, "misses": self.misses, "entries": len(self)}

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._conn.close()
