"""A local ``transformers`` causal LM (small models on CPU or one GPU), prompted through its chat template.

The model is loaded lazily on the first request from a local folder or a Hub id (``HF_HUB_OFFLINE=1``
is honoured by transformers itself) and requests run one at a time in a worker thread, so the event
loop stays free. ``temperature`` 0 (or absent ``temperature`` with ``do_sample`` false) decodes greedily.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aesdata.cache import RequestCache
from aesdata.errors import AesdataError
from aesdata.llm.base import GenRequest, GenResult, LLMBackend


class TransformersBackend(LLMBackend):
    """Generate with ``AutoModelForCausalLM`` + ``AutoTokenizer.apply_chat_template``.

    ``model``: a folder or Hub id; ``device``: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda:0``...
    Parameters understood per request: ``temperature``, ``top_p``, ``top_k``, ``max_tokens``, ``seed``.
    """

    kind = "transformers"

    def __init__(
        self, model: str, *, cache: RequestCache | None = None, device: str = "auto", dtype: str = "auto"
    ) -> None:
        super().__init__(model, cache=cache, concurrency=1)
        self.device = device
        self.dtype = dtype
        self._tok: Any = None
        self._lm: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load tokenizer and model now (raises ``AesdataError`` for a model that cannot be loaded)."""
        if self._lm is not None:
            return
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:
            raise AesdataError(
                f"The transformers backend needs torch and transformers ({e}).",
                "Install them with: pip install 'aesdata[train]'.",
            ) from None
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self._tok = AutoTokenizer.from_pretrained(self.model)
            self._lm = AutoModelForCausalLM.from_pretrained(self.model, dtype=self.dtype).to(device).eval()
        except OSError as e:
            raise AesdataError(
                f"Cannot load the model {self.model!r}: {e}",
                "Pass a local model folder, or a Hub id that is in the local cache.",
            ) from None
        if getattr(self._tok, "chat_template", None) is None:
            raise AesdataError(
                f"The tokenizer of {self.model!r} has no chat template.",
                "Use an instruction-tuned model whose tokenizer ships a chat_template.",
            )

    def _run(self, request: GenRequest) -> GenResult:
        import torch

        with self._lock:
            self.load()
            p = request.params
            enc = self._tok.apply_chat_template(
                request.messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(self._lm.device)
            temperature = float(p.get("temperature", 0.0) or 0.0)
            gen: dict[str, Any] = {
                "max_new_tokens": int(p.get("max_tokens", 512)),
                "do_sample": temperature > 0,
            }
            if temperature > 0:
                gen.update(temperature=temperature, top_p=float(p.get("top_p", 1.0)))
                if p.get("top_k"):
                    gen["top_k"] = int(p["top_k"])
            if p.get("seed") is not None:
                torch.manual_seed(int(p["seed"]))
            pad = self._tok.pad_token_id if self._tok.pad_token_id is not None else self._tok.eos_token_id
            with torch.inference_mode():
                out = self._lm.generate(**enc, **gen, pad_token_id=pad)
            prompt_len = enc["input_ids"].shape[1]
            new = out[0, prompt_len:]
            eos = self._lm.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self._tok.eos_token_id}
            stopped = len(new) > 0 and int(new[-1]) in eos_ids
            return GenResult(
                text=self._tok.decode(new, skip_special_tokens=True),
                finish_reason="stop" if stopped or len(new) < gen["max_new_tokens"] else "length",
                prompt_tokens=int(prompt_len),
                completion_tokens=int(len(new)),
                attempts=1,
            )

    async def _complete(self, request: GenRequest) -> GenResult:
        return await asyncio.to_thread(self._run, request)

    def close(self) -> None:
        self._lm = None
        self._tok = None
