"""``generate``: N candidate programs per instruction from an LLM (expand stage).

Input: instruction rows. Output: ``n`` candidate rows per instruction, whole rows: the identity
columns, ``gen_*`` (backend, model, params, candidate index, status, error, tokens), the raw
``response`` and the extracted ``code``. The system prompt is chosen per category (``prompts.py``,
overridable with ``system_prompts``); sampling parameters come from the step; candidate ``c`` uses
``seed + c`` when a seed is set. Every request goes through the shared request cache, so a rerun
after a kill pays only for what had not come back. A request that fails after its retries is a
row with ``gen_status: error`` and the reason in ``gen_error``; the build goes on.

``id``: sha256 of kind, instruction and code (16 hex) for a reply with code; for a reply without
code, of kind, instruction and the candidate index. A repeat within the shard gets ``-2``, ``-3``...
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from pydantic import Field

from aesdata.cache import RequestCache
from aesdata.generate.extract import extract_code
from aesdata.generate.prompts import system_prompt
from aesdata.ids import content_id
from aesdata.llm import GENERATOR_OVERRIDES, LLMBackend, LLMConfig, make_backend
from aesdata.llm.base import GenRequest, GenResult
from aesdata.schema import COLUMN_GROUPS, sub_schema
from aesdata.stage import Resources, Stage, register


class GenerateConfig(LLMConfig):
    n: int = Field(default=2, ge=1, description="candidates per instruction")
    temperature: float = Field(default=0.7, ge=0, description="sampling temperature")
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_tokens: int = Field(
        default=8192, ge=1, description="completion token limit (a reply cut here is 'truncated')"
    )
    seed: int | None = Field(default=None, description="base seed; candidate c uses seed + c")
    extra_params: dict[str, Any] = Field(
        default_factory=dict, description="more request parameters (top_k, stop...)"
    )
    system_prompts: dict[str, str] = Field(
        default_factory=dict, description="category -> system prompt overrides"
    )


@register
class Generate(Stage):
    name = "generate"
    summary = (
        "Generate N candidate programs per instruction with an LLM (OpenAI-compatible, vLLM or transformers)."
    )
    mode = "expand"
    Config = GenerateConfig
    # one worker: requests run concurrently inside it (HTTP), or one local model serves them
    resources = Resources(cpus=1.0, memory_gb=1.0, max_workers=1)
    overrides = GENERATOR_OVERRIDES
    requires = ("instruction_id", "kind", "category", "instruction", "source", "meta_json", "data_csv")
    outputs = (*COLUMN_GROUPS["identity"], *COLUMN_GROUPS["generation"])
    config: GenerateConfig

    def __init__(self, config: GenerateConfig, context: Any) -> None:
        super().__init__(config, context)
        self.backend: LLMBackend | None = None
        self.cache: RequestCache | None = None

    def params(self, candidate: int) -> dict[str, Any]:
        """Request parameters of candidate number ``candidate``."""
        c = self.config
        p: dict[str, Any] = {
            **c.extra_params,
            "temperature": c.temperature,
            "top_p": c.top_p,
            "max_tokens": c.max_tokens,
        }
        if c.seed is not None:
            p["seed"] = c.seed + candidate
        return p

    def setup(self) -> None:
        self.cache = RequestCache(self.context.cache_path())
        self.backend = make_backend(self.config, self.cache)
        self.backend.load()

    async def ateardown(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()

    def teardown(self) -> None:
        if self.backend is not None:
            self.backend.close()
        if self.cache is not None:
            self.cache.close()

    def requests(self, row: dict[str, Any]) -> list[GenRequest]:
        """The ``n`` requests for one instruction row."""
        system = system_prompt(row["kind"], row["category"], self.config.system_prompts)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": row["instruction"]}]
        return [GenRequest(messages, self.params(c), {"candidate": c}) for c in range(self.config.n)]

    async def aprocess(self, table: pa.Table) -> pa.Table:
        if self.backend is None:
            self.setup()
        assert self.backend is not None
        rows = table.to_pylist()
        reqs = [req for row in rows for req in self.requests(row)]
        results = await self.backend.generate(reqs)
        out: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for k, (req, res) in enumerate(zip(reqs, results, strict=True)):
            out.append(self._candidate(rows[k // self.config.n], req, res, seen))
        return pa.Table.from_pylist(out, schema=sub_schema(list(self.outputs)))

    def _candidate(
        self, row: dict[str, Any], req: GenRequest, res: GenResult, seen: dict[str, int]
    ) -> dict[str, Any]:
        c = int(req.key_extra["candidate"])
        if res.ok:
            ex = extract_code(res.text, row["kind"], res.finish_reason)
            status, code, error = ex.status, ex.code, None
        else:
            status, code, error = "error", None, res.error
        rid = content_id(row["kind"], row["instruction"], code if code is not None else f"#candidate-{c}")
        seen[rid] = seen.get(rid, 0) + 1
        if seen[rid] > 1:
            rid = f"{rid}-{seen[rid]}"
        assert self.backend is not None
        return {
            "id": rid,
            **{k: row.get(k) for k in self.requires},
            "gen_backend": self.backend.kind,
            "gen_model": self.backend.model,
            "gen_params_json": json.dumps(req.params, sort_keys=True),
            "gen_candidate_index": c,
            "gen_status": status,
            "gen_error": error,
            "gen_prompt_tokens": res.prompt_tokens,
            "gen_completion_tokens": res.completion_tokens,
            "response": res.text,
            "code": code,
        }

    def failures(self, output: pa.Table) -> int:
        """Candidates without usable code (request failed, or no code in the reply)."""
        return sum(1 for s in output.column("gen_status").to_pylist() if s in ("error", "no_code"))
