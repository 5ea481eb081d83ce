"""LLM backends behind one interface (``LLMBackend.generate``) and the config keys that choose one.

``LLMConfig`` holds the keys every LLM-calling stage shares; ``make_backend`` builds the backend
it names. ``AESDATA_LLM_BASE_URL`` and ``AESDATA_MODEL`` override ``base_url`` and ``model``
(the CLI's ``--llm-base-url`` / ``--model`` set them).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from aesdata.cache import RequestCache
from aesdata.errors import AesdataError
from aesdata.llm.base import GenRequest, GenResult, LLMBackend
from aesdata.stage import StageConfig

__all__ = ["GenRequest", "GenResult", "LLMBackend", "LLMConfig", "make_backend", "resolved_endpoint"]

ENV_BASE_URL = "AESDATA_LLM_BASE_URL"
ENV_MODEL = "AESDATA_MODEL"


class LLMConfig(StageConfig):
    """Which model answers, and how it is reached."""

    backend: Literal["openai", "vllm", "transformers"] = Field(
        default="openai",
        description="openai: any OpenAI-compatible endpoint; vllm: in-process engine (GPU); "
        "transformers: a local model on CPU/GPU",
    )
    model: str | None = Field(
        default=None,
        description=f"model name (openai) or folder / Hub id (vllm, transformers); ${ENV_MODEL} overrides it",
    )
    base_url: str | None = Field(
        default=None, description=f"endpoint ending in /v1; ${ENV_BASE_URL} overrides it"
    )
    api_key_env: str = Field(default="OPENAI_API_KEY", description="environment variable holding the API key")
    concurrency: int = Field(default=16, ge=1, description="requests in flight at once (openai)")
    timeout_s: float = Field(default=300.0, gt=0, description="seconds per attempt (openai)")
    max_retries: int = Field(default=5, ge=0, description="retries after a timeout, 429/5xx or garbage reply")
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles each retry")
    device: str = Field(default="auto", description="transformers: auto | cpu | cuda:0 ...")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="vllm: arguments of vllm.LLM(...)")


def resolved_endpoint(config: LLMConfig) -> tuple[str, str | None]:
    """Return ``(model, base_url)`` after the environment overrides; ``AesdataError`` when no model is set."""
    model = os.environ.get(ENV_MODEL) or config.model
    base_url = os.environ.get(ENV_BASE_URL) or config.base_url
    if not model:
        raise AesdataError(
            "No model is set for the LLM backend.",
            f"Set `model:` in the pipeline file, pass --model, or set ${ENV_MODEL}.",
        )
    if config.backend == "openai" and not base_url:
        raise AesdataError(
            "No endpoint is set for the openai backend.",
            f"Set `base_url:` (e.g. http://127.0.0.1:8000/v1), pass --llm-base-url, or set ${ENV_BASE_URL}.",
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
