"""One interface for every LLM backend: a list of chat requests in, a list of results out.

``LLMBackend.generate(requests)`` looks each request up in the shared request cache, sends only
the misses (at most ``concurrency`` at a time), stores every successful reply the moment it
arrives, and never raises for a failed request: the failure is a ``GenResult`` with ``error`` set.
Backends implement ``_complete(request)`` for one request (HTTP backends) or override
``_complete_many`` to batch (in-process engines).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from aesdata.cache import RequestCache, cache_key


@dataclass(frozen=True)
class GenRequest:
    """One chat completion to make.

    ``messages``: OpenAI-style ``[{"role", "content"}]``; ``params``: sampling parameters
    (``temperature``, ``top_p``, ``max_tokens``, ``seed``...); ``key_extra``: what else makes this
    request distinct in the cache (e.g. ``{"candidate": 2}`` so that N samples are N entries).
    """

    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    key_extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenResult:
    """What came back for one request: ``text`` and ``finish_reason`` (``stop`` | ``length`` ...),
    billed tokens, ``error`` (``None`` on success), ``attempts`` made and whether it was ``cached``."""

    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    attempts: int = 0
    cached: bool = False

    @property
    def ok(self) -> bool:
        """True when a reply arrived."""
        return self.error is None and self.text is not None

    def to_json(self) -> dict[str, Any]:
        """The cached form (without the per-call ``cached`` / ``attempts`` fields)."""
        d = asdict(self)
        d.pop("cached")
        d.pop("attempts")
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GenResult:
        """Inverse of ``to_json``."""
        return cls(
            **{k: data.get(k) for k in ("text", "finish_reason", "error")},
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
        )


class LLMBackend(ABC):
    """Base class of the backends. ``model`` names the model; ``cache`` is optional.

    Counters after ``generate``: ``sent`` (requests that reached the model), ``failed``,
    ``prompt_tokens`` / ``completion_tokens`` (billed for sent requests only).
    """

    kind: ClassVar[str]

    def __init__(self, model: str, *, cache: RequestCache | None = None, concurrency: int = 8) -> None:
        self.model = model
        self.cache = cache
        self.concurrency = max(1, concurrency)
        self.sent = 0
        self.failed = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def key_parts(self, request: GenRequest) -> dict[str, Any]:
        """What identifies ``request`` in the cache: model, parameters, messages and ``key_extra``."""
        return {
            "model": self.model,
            "params": request.params,
            "messages": request.messages,
            "extra": request.key_extra,
        }

    @abstractmethod
    async def _complete(self, request: GenRequest) -> GenResult:
        """Send one request; return its result (errors as ``GenResult(error=...)`` or raised)."""

    async def _complete_many(self, requests: list[GenRequest], on_result: Any) -> None:
        """Send ``requests`` with bounded concurrency, calling ``await on_result(i, result)`` as each finishes."""
        sem = asyncio.Semaphore(self.concurrency)

        async def one(i: int) -> None:
            async with sem:
                try:
                    result = await self._complete(requests[i])
                except Exception as e:  # a backend bug or an unexpected library error: record, go on
                    result = GenResult(error=f"{type(e).__name__}: {e}", attempts=1)
                await on_result(i, result)

        await asyncio.gather(*(one(i) for i in range(len(requests))))

    async def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        """Return one ``GenResult`` per request, in order; cached replies are not sent again."""
        results: list[GenResult | None] = [None] * len(requests)
        todo: list[int] = []
        keys = [cache_key(self.key_parts(r)) for r in requests]
        for i in range(len(requests)):
            hit = self.cache.get(keys[i]) if self.cache is not None else None
            if hit is not None:
                res = GenResult.from_json(hit)
                res.cached = True
                results[i] = res
            else:
                todo.append(i)

        async def on_result(j: int, result: GenResult) -> None:
            i = todo[j]
            results[i] = result
            self.sent += 1
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens
            if not result.ok:
                self.failed += 1
            elif self.cache is not None:
                await asyncio.to_thread(
                    self.cache.put, keys[i], result.to_json(), self.key_parts(requests[i])
                )

        if todo:
            await self._complete_many([requests[i] for i in todo], on_result)
        return [r if r is not None else GenResult(error="no result") for r in results]

    def generate_sync(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        """``generate`` for callers without an event loop."""
        return asyncio.run(self.generate(requests))

    def stats(self) -> dict[str, int]:
        """Counters of this backend object: sent, failed, prompt_tokens, completion_tokens."""
        return {
            "sent": self.sent,
            "failed": self.failed,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }

    def load(self) -> None:  # noqa: B027  (optional hook: HTTP backends have nothing to load)
        """Create heavy state now (local models), so a bad model fails at setup; HTTP backends do nothing."""

    async def aclose(self) -> None:  # noqa: B027  (optional hook)
        """Release connections (HTTP backends); models are released by ``close``."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release heavy state (models, engines)."""
