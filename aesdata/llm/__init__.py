"""LLM backends behind one interface (``LLMBackend.generate``) and the config keys that choose one.

``LLMConfig`` holds the keys every LLM-calling stage shares; ``make_backend`` builds the backend
it names. Nothing here reads the environment for the model or endpoint: ``aesdata build --model`` /
``--llm-base-url`` are written into the configs of the steps that generate (``aesdata.spec``), so the
value that ran is the one fingerprinted, recorded in the manifest and sent to remote workers.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from aesdata.cache import RequestCache
from aesdata.config import StageConfig
from aesdata.errors import AesdataError
from aesdata.llm.base import GenRequest, GenResult, LLMBackend

__all__ = [
    "GENERATOR_OVERRIDES",
    "GenRequest",
    "GenResult",
    "LLMBackend",
    "LLMConfig",
    "make_backend",
    "resolved_endpoint",
]

#: what a step that generates text with an ``LLMConfig`` takes from ``aesdata build``: the CLI's
#: ``--model`` / ``--llm-base-url`` (see ``aesdata.stage.Stage.overrides``). A VLM judge does not take them.
GENERATOR_OVERRIDES: dict[str, tuple[str, ...]] = {"model": ("model",), "llm_base_url": ("base_url",)}


class LLMConfig(StageConfig):
    """Which model answers, and how it is reached."""

    tuning_keys = ("concurrency",)

    backend: Literal["openai", "vllm", "transformers"] = Field(
        default="openai",
        description="openai: any OpenAI-compatible endpoint; vllm: in-process engine (GPU); "
        "transformers: a local model on CPU/GPU",
    )
    model: str | None = Field(
        default=None,
        description="model name (openai) or folder / Hub id (vllm, transformers)",
    )
    base_url: str | None = Field(default=None, description="endpoint ending in /v1")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="environment variable holding the API key")
    concurrency: int = Field(default=16, ge=1, description="requests in flight at once (openai)")
    timeout_s: float = Field(default=300.0, gt=0, description="seconds per attempt (openai)")
    max_retries: int = Field(default=5, ge=0, description="retries after a timeout, 429/5xx or garbage reply")
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles each retry")
    device: str = Field(default="auto", description="transformers: auto | cpu | cuda:0 ...")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="vllm: arguments of vllm.LLM(...)")


def resolved_endpoint(config: LLMConfig) -> tuple[str, str | None]:
    """Return ``(model, base_url)`` of ``config``; ``AesdataError`` when one the backend needs is not set."""
    model, base_url = config.model, config.base_url
    if not model:
        raise AesdataError(
            "No model is set for the LLM backend.",
            "Set `model:` in the pipeline file or pass --model to `aesdata build`.",
        )
    if config.backend == "openai" and not base_url:
        raise AesdataError(
            "No endpoint is set for the openai backend.",
            "Set `base_url:` (e.g. http://127.0.0.1:8000/v1) or pass --llm-base-url to `aesdata build`.",
        )
    return model, base_url


def make_backend(config: LLMConfig, cache: RequestCache | None = None) -> LLMBackend:
    """Build the backend ``config.backend`` names, sharing ``cache``."""
    model, base_url = resolved_endpoint(config)
    if config.backend == "openai":
        from aesdata.llm.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(
            model,
            base_url or "",
            cache=cache,
            concurrency=config.concurrency,
            api_key=os.environ.get(config.api_key_env),
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            backoff_s=config.backoff_s,
        )
    if config.backend == "vllm":
        from aesdata.llm.vllm_backend import VLLMBackend

        return VLLMBackend(model, cache=cache, engine_args=config.engine_args)
    from aesdata.llm.transformers_backend import TransformersBackend

    return TransformersBackend(model, cache=cache, device=config.device)
