"""LLM backends against real models: ``transformers serve`` on loopback (OpenAI-compatible backend),
the transformers backend in-process, fault injection through a loopback proxy, and the request cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aesdata.cache import RequestCache, cache_key
from aesdata.errors import AesdataError
from aesdata.generate.prompts import SYNTHESIS_SYSTEM, system_prompt
from aesdata.llm import LLMConfig, make_backend
from aesdata.llm.base import GenRequest
from aesdata.llm.openai_compat import OpenAICompatBackend
from aesdata.llm.transformers_backend import TransformersBackend
from aesdata.rundir import RunDir
from tests.llm_helpers import (
    HTML_REPLY,
    PLOT_REPLY,
    SYNTH_PROMPT,
    SYNTH_REPLY,
    TAUGHT_INSTRUCTION,
    FaultProxy,
    ServeProcess,
    shared_serve,
    shared_tiny_model,
)

GREEDY = {"temperature": 0.0, "max_tokens": 200}


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    return shared_tiny_model()


@pytest.fixture(scope="session")
def serve() -> ServeProcess:
    return shared_serve()


def html_request(candidate: int = 0, **params: object) -> GenRequest:
    msgs = [
        {"role": "system", "content": system_prompt("html", "website")},
        {"role": "user", "content": TAUGHT_INSTRUCTION},
    ]
    return GenRequest(msgs, {**GREEDY, **params}, {"candidate": candidate})


def plot_request() -> GenRequest:
    msgs = [
        {"role": "system", "content": system_prompt("plot", "matplotlib")},
        {"role": "user", "content": "Plot the values."},
    ]
    return GenRequest(msgs, dict(GREEDY))


def test_openai_backend_against_transformers_serve(serve: ServeProcess, tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite")
    backend = OpenAICompatBackend(serve.model, serve.base_url, cache=cache, concurrency=2)
    first = backend.generate_sync([html_request(), plot_request(), html_request(max_tokens=4)])
    assert [r.text for r in first[:2]] == [HTML_REPLY, PLOT_REPLY]
    assert [r.finish_reason for r in first] == ["stop", "stop", "length"]
    assert first[0].prompt_tokens > 200 and first[0].completion_tokens > 10
    assert backend.sent == 3 and backend.prompt_tokens == sum(r.prompt_tokens for r in first)
    again = backend.generate_sync([html_request(), plot_request(), html_request(candidate=1)])
    assert [r.cached for r in again] == [True, True, False]  # candidate 1 is a distinct request
    assert again[0].text == HTML_REPLY and backend.sent == 4
    assert cache.stats()["entries"] == 4


def test_retries_through_faults(serve: ServeProcess, tmp_path: Path) -> None:
    faults = {1: "500", 2: "503", 3: "429", 4: "garbage", 5: "nochoices", 6: "stall"}
    proxy = FaultProxy(serve.base_url, lambda n, body: faults.get(n), stall_s=6.0)
    try:
        backend = OpenAICompatBackend(
            serve.model, proxy.base_url, timeout_s=4.0, max_retries=8, backoff_s=0.01
        )
        [res] = backend.generate_sync([html_request()])
        assert res.ok and res.text == HTML_REPLY
        assert res.attempts == 7 and proxy.faults == ["500", "503", "429", "garbage", "nochoices", "stall"]
        assert proxy.forwarded == 1
    finally:
        proxy.close()


def test_exhausted_retries_and_client_errors_are_results(serve: ServeProcess, tmp_path: Path) -> None:
    proxy = FaultProxy(
        serve.base_url, lambda n, body: "400" if body["messages"][-1]["content"] == "bad" else "500"
    )
    cache = RequestCache(tmp_path / "c.sqlite")
    try:
        backend = OpenAICompatBackend(serve.model, proxy.base_url, cache=cache, max_retries=2, backoff_s=0.01)
        bad = GenRequest([{"role": "user", "content": "bad"}], dict(GREEDY))
        down, client_err = backend.generate_sync([html_request(), bad])
        assert not down.ok and "gave up after 3 attempts" in down.error and "HTTP 500" in down.error
        assert not client_err.ok and client_err.error.startswith("HTTP 400") and proxy.received == 4
        assert backend.failed == 2 and len(cache) == 0  # failures are not cached: a rerun retries them
    finally:
        proxy.close()


def test_connection_refused_is_a_result() -> None:
    from tests.llm_helpers import free_port

    backend = OpenAICompatBackend("m", f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff_s=0.01)
    [res] = backend.generate_sync([html_request()])
    assert not res.ok and "connection error" in res.error


def test_transformers_backend(tiny_model: Path, tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite")
    backend = make_backend(LLMConfig(backend="transformers", model=str(tiny_model), device="cpu"), cache)
    assert isinstance(backend, TransformersBackend)
    synth = GenRequest(
        [{"role": "system", "content": SYNTHESIS_SYSTEM}, {"role": "user", "content": SYNTH_PROMPT}],
        dict(GREEDY),
    )
    html, syn, cut = backend.generate_sync([html_request(), synth, html_request(max_tokens=5)])
    assert html.text == HTML_REPLY and html.finish_reason == "stop"
    assert syn.text == SYNTH_REPLY
    assert cut.finish_reason == "length" and cut.completion_tokens == 5
    sampled = backend.generate_sync([html_request(candidate=3, temperature=1.0, seed=1)])[0]
    assert sampled.ok and sampled.completion_tokens > 0
    assert backend.generate_sync([html_request()])[0].cached


def test_missing_model_and_vllm_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AesdataError, match="Cannot load the model"):
        make_backend(LLMConfig(backend="transformers", model=str(tmp_path / "nope"))).load()
    with pytest.raises(AesdataError, match="No endpoint"):
        make_backend(LLMConfig(backend="openai", model="m"))
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(AesdataError, match="vllm"):
            make_backend(LLMConfig(backend="vllm", model="m")).load()


def test_the_environment_does_not_change_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides travel in the config (``aesdata build --model``), never through the environment."""
    monkeypatch.setenv("AESDATA_LLM_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("AESDATA_MODEL", "other")
    backend = make_backend(LLMConfig(backend="openai", model="m", base_url="http://x/v1"))
    assert isinstance(backend, OpenAICompatBackend)
    assert (backend.model, backend.base_url) == ("m", "http://x/v1")


# ---------------------------------------------------------------- the request cache
def test_cache_keys_persistence_and_counters(tmp_path: Path) -> None:
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
    assert RunDir(tmp_path).cache_path() == tmp_path / "cache" / "requests.sqlite"
    assert RunDir(tmp_path).cache_path({"request_cache": "/x/y.sqlite"}) == Path("/x/y.sqlite")
    path = tmp_path / "cache" / "requests.sqlite"
    cache = RequestCache(path)
    calls = []

    async def call(i: int) -> dict:
        calls.append(i)
        await asyncio.sleep(0)
        return {"i": i, "ok": i != 3}

    out = asyncio.run(_calls(cache, call))
    assert [r for r, _ in out] == [{"i": i, "ok": i != 3} for i in range(6)] and not any(
        hit for _, hit in out
    )
    cache.close()
    reopened = RequestCache(path)
    out2 = asyncio.run(_calls(reopened, call))
    assert [hit for _, hit in out2] == [True, True, True, False, True, True]  # the failure was not stored
    assert reopened.stats() == {"hits": 5, "misses": 1, "entries": 5}
    assert calls == [0, 1, 2, 3, 4, 5, 3]


async def _calls(cache: RequestCache, call) -> list:
    """Six cached calls at once; results with ok false are not stored."""
    return await asyncio.gather(
        *(cache.cached_call({"i": i}, lambda i=i: call(i), store=lambda r: r["ok"]) for i in range(6))
    )


def test_cache_shared_between_processes(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "shared.sqlite"
    code = (
        "import sys; from aesdata.cache import RequestCache; c = RequestCache(sys.argv[1]); "
        "[c.put(f'{sys.argv[2]}-{i}', {'v': i}) for i in range(200)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), tag]) for tag in ("a", "b")]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert len(RequestCache(path)) == 400
