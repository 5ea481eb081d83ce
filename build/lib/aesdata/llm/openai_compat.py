"""Any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, ``transformers serve``, hosted APIs).

Each request is one ``POST {base_url}/chat/completions`` made with httpx. Timeouts, connection
errors, HTTP 408/429/5xx and garbage replies (not JSON, no ``choices``) are retried with
exponential backoff and jitter (``Retry-After`` honoured); other 4xx errors are not retried.
After ``max_retries`` retries the request is a failed ``GenResult``, never an exception.
Token use is read from the reply's ``usage``.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import httpx

from aesdata.cache import RequestCache
from aesdata.llm.base import GenRequest, GenResult, LLMBackend

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class _Retryable(Exception):
    """A failure worth another try (transient server or network trouble, garbage reply)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_chat_reply(data: Any) -> GenResult:
    """Turn a chat-completions JSON body into a ``GenResult``; raise ``ValueError`` if it is not one.

    Input: the decoded JSON body. Output: text of ``choices[0].message.content``, its
    ``finish_reason`` and ``usage`` token counts (0 when the server sends none).
    """
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise ValueError("reply has no choices")
    choice = data["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise ValueError("reply has no message")
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise ValueError("message content is not text")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:  # keep the reasoning visible in the raw response
        content = f"<think>{reasoning}</think>\n{content}"
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return GenResult(
        text=content,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


class OpenAICompatBackend(LLMBackend):
    """Chat completions over HTTP.

    ``base_url`` ends in ``/v1`` (e.g. ``http://127.0.0.1:8000/v1``); ``api_key`` is sent as a
    bearer token when set (default: ``$OPENAI_API_KEY``). ``timeout_s`` bounds one attempt;
    ``max_retries`` retries follow with delays ``backoff_s * 2**k`` (capped at ``backoff_max_s``).
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        cache: RequestCache | None = None,
        concurrency: int = 8,
        api_key: str | None = None,
        timeout_s: float = 300.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model, cache=cache, concurrency=concurrency)
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.extra_body = extra_body or {}
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        """The client of the running event loop (a new one when the loop changed, e.g. per shard)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            self._client = httpx.AsyncClient(timeout=self.timeout_s, headers=headers, limits=limits)
            self._client_loop = loop
        return self._client

    async def _attempt(self, body: dict[str, Any]) -> GenResult:
        """One POST; raise ``_Retryable`` for transient trouble, return a failed result for the rest."""
        try:
            resp = await self._http().post(f"{self.base_url}/chat/completions", json=body)
        except httpx.TimeoutException as e:
            raise _Retryable(f"timeout after {self.timeout_s:g}s ({type(e).__name__})") from None
        except httpx.TransportError as e:
            raise _Retryable(f"connection error: {type(e).__name__}: {e}") from None
        if resp.status_code in _RETRY_STATUS:
            after = resp.headers.get("retry-after", "")
            seconds = float(after) if after.replace(".", "", 1).isdigit() else None
            raise _Retryable(f"HTTP {resp.status_code}: {resp.text[:200]}", retry_after=seconds)
        if resp.status_code >= 400:
            return GenResult(error=f"HTTP {resp.status_code}: {resp.text[:500]}")
        try:
            return parse_chat_reply(resp.json())
        except ValueError as e:  # json.JSONDecodeError is a ValueError too
            raise _Retryable(f"garbage reply ({e}): {resp.text[:200]!r}") from None

    async def _complete(self, request: GenRequest) -> GenResult:
        body = {**self.extra_body, **request.params, "model": self.model, "messages": request.messages}
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                result = await self._attempt(body)
                result.attempts = attempt + 1
                return result
            except _Retryable as e:
                last = str(e)
                if attempt == self.max_retries:
                    break
                wait = e.retry_after if e.retry_after is not None else self.backoff_s * 2**attempt
                delay = min(self.backoff_max_s, wait)
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
        return GenResult(
            error=f"gave up after {self.max_retries + 1} attempts: {last}", attempts=self.max_retries + 1
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
