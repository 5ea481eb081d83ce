"""vLLM in-process (optional extra ``aesdata[vllm]``, needs a GPU environment).

All cache misses of one ``generate`` call go to the engine as one ``LLM.chat`` batch (vLLM schedules
them with continuous batching), run in a worker thread. Not exercised by the CPU test suite.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aesdata.cache import RequestCache
from aesdata.errors import AesdataError
from aesdata.llm.base import GenRequest, GenResult, LLMBackend

_SAMPLING_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "stop",
    "min_p",
)


class VLLMBackend(LLMBackend):
    """Generate with ``vllm.LLM``; ``engine_args`` go to its constructor (``tensor_parallel_size``,
    ``gpu_memory_utilization``, ``max_model_len``...)."""

    kind = "vllm"

    def __init__(
        self, model: str, *, cache: RequestCache | None = None, engine_args: dict[str, Any] | None = None
    ) -> None:
        super().__init__(model, cache=cache, concurrency=1)
        self.engine_args = engine_args or {}
        self._llm: Any = None

    def load(self) -> None:
        """Start the engine now; ``AesdataError`` when vLLM is not installed."""
        if self._llm is not None:
            return
        try:
            from vllm import LLM
        except ImportError:
            raise AesdataError(
                "The vllm backend needs the vllm package, which is not installed in this environment.",
                "Install it in a GPU environment with: pip install 'aesdata[vllm]', or use backend: openai "
                "with a `vllm serve` endpoint.",
            ) from None
        self._llm = LLM(model=self.model, **self.engine_args)

    def _run(self, requests: list[GenRequest]) -> list[GenResult]:
        from vllm import SamplingParams

        self.load()
        params = [
            SamplingParams(**{k: r.params[k] for k in _SAMPLING_KEYS if k in r.params}) for r in requests
        ]
        outputs = self._llm.chat([r.messages for r in requests], sampling_params=params, use_tqdm=False)
        results = []
        for out in outputs:
            comp = out.outputs[0]
            results.append(
                GenResult(
                    text=comp.text,
                    finish_reason=comp.finish_reason,
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(comp.token_ids),
                    attempts=1,
                )
            )
        return results

    async def _complete(self, request: GenRequest) -> GenResult:
        return (await asyncio.to_thread(self._run, [request]))[0]

    async def _complete_many(self, requests: list[GenRequest], on_result: Any) -> None:
        try:
            results = await asyncio.to_thread(self._run, requests)
        except AesdataError:
            raise
        except Exception as e:  # an engine failure fails the batch, not the run
            results = [GenResult(error=f"{type(e).__name__}: {e}", attempts=1) for _ in requests]
        for i, result in enumerate(results):
            await on_result(i, result)

    def close(self) -> None:
        self._llm = None
